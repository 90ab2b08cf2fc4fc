# Forecasts and reports became apps of their own (planner.forecasts, planner.reports); their tables stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('forecasts', '0001_initial'),
        ('reports', '0001_initial'),
        ('planner', '0009_reference_devices'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='exportlink',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='forecastrun',
                    name='hall',
                ),
                migrations.RemoveField(
                    model_name='forecastrun',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='hallforecast',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='gpuriskscore',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='gpuriskscore',
                    name='gpu',
                ),
                migrations.RemoveField(
                    model_name='gpuriskscore',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='hallforecast',
                    name='hall',
                ),
                migrations.RemoveField(
                    model_name='reportdelivery',
                    name='subscription',
                ),
                migrations.RemoveField(
                    model_name='reportdeliveryattempt',
                    name='delivery',
                ),
                migrations.RemoveField(
                    model_name='reportsubscription',
                    name='organization',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='ExportLink',
                ),
                migrations.DeleteModel(
                    name='ForecastRun',
                ),
                migrations.DeleteModel(
                    name='GpuRiskScore',
                ),
                migrations.DeleteModel(
                    name='HallForecast',
                ),
                migrations.DeleteModel(
                    name='ReportDelivery',
                ),
                migrations.DeleteModel(
                    name='ReportDeliveryAttempt',
                ),
                migrations.DeleteModel(
                    name='ReportSubscription',
                ),
            ],
        ),
    ]
