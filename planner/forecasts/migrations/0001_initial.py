# The forecast models, moved from the planner app with their tables (planner_*): state only, no SQL.

import django.db.models.deletion
from django.db import migrations, models

from planner.content_types import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('planner', '0009_reference_devices'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('telemetry', '0013_site_price_default_decimal'),
    ]

    operations = [
        # Permissions and admin history keep their rows: the content types change app, not identity.
        move_content_types(['forecastrun', 'hallforecast', 'alert', 'gpuriskscore'], 'planner', 'forecasts'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ForecastRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('cooling', 'cooling forecast'), ('risk', 'failure risk')], max_length=8)),
                        ('mode', models.CharField(choices=[('refit', 'nightly refit with backtest'), ('update', 'hourly update')], default='update', max_length=8)),
                        ('as_of', models.DateTimeField(help_text='The instant the forecast is made from (UTC).')),
                        ('started', models.DateTimeField()),
                        ('finished', models.DateTimeField(blank=True, null=True)),
                        ('duration_s', models.FloatField(blank=True, null=True)),
                        ('status', models.CharField(choices=[('running', 'running'), ('ok', 'ok'), ('failed', 'failed')], default='running', max_length=8)),
                        ('inputs_start', models.DateTimeField(blank=True, help_text='First hour of history used.', null=True)),
                        ('inputs_end', models.DateTimeField(blank=True, help_text='Last hour of history used.', null=True)),
                        ('model_version', models.CharField(max_length=60)),
                        ('scores', models.JSONField(blank=True, default=dict, help_text='Backtest scores (per target, or Brier).')),
                        ('notes', models.JSONField(blank=True, default=list, help_text='Caveats about the inputs, shown on the page.')),
                        ('error', models.TextField(blank=True)),
                        ('hall', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='forecast_runs', to='telemetry.hall')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='forecast_runs', to='telemetry.organization')),
                    ],
                    options={
                        'db_table': 'planner_forecastrun',
                        'ordering': ['-started'],
                    },
                ),
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('racks', models.JSONField(blank=True, default=list, help_text='Names of the racks concerned.')),
                        ('kind', models.CharField(max_length=24)),
                        ('threshold', models.FloatField()),
                        ('unit', models.CharField(max_length=8)),
                        ('start', models.DateTimeField(help_text='First forecast hour over the threshold.')),
                        ('end', models.DateTimeField(help_text='Last forecast hour over the threshold.')),
                        ('peak', models.FloatField(help_text='Highest upper bound of the interval.')),
                        ('peak_at', models.DateTimeField()),
                        ('margin', models.FloatField(help_text='Threshold minus peak; negative is how far over.')),
                        ('severity', models.CharField(choices=[('warning', 'warning'), ('critical', 'critical')], max_length=8)),
                        ('dedup_key', models.CharField(max_length=120)),
                        ('first_seen', models.DateTimeField()),
                        ('last_seen', models.DateTimeField()),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('hall', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='telemetry.hall')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='telemetry.organization')),
                        ('last_run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='forecasts.forecastrun')),
                    ],
                    options={
                        'db_table': 'planner_alert',
                        'ordering': ['resolved_at', '-severity', 'start'],
                    },
                ),
                migrations.CreateModel(
                    name='GpuRiskScore',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('as_of', models.DateTimeField()),
                        ('probability_30d', models.FloatField()),
                        ('log_odds', models.FloatField()),
                        ('top_signal', models.CharField(blank=True, max_length=24)),
                        ('signals', models.JSONField(default=list, help_text='[{signal, log_odds, why}], largest first.')),
                        ('features', models.JSONField(default=dict, help_text='The signal values scored (counts over 30 days).')),
                        ('gpu', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='risk_scores', to='telemetry.gpu')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='telemetry.organization')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='risk_scores', to='forecasts.forecastrun')),
                    ],
                    options={
                        'db_table': 'planner_gpuriskscore',
                        'ordering': ['-probability_30d'],
                    },
                ),
                migrations.CreateModel(
                    name='HallForecast',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('as_of', models.DateTimeField()),
                        ('horizon_hours', models.PositiveSmallIntegerField()),
                        ('frame', models.JSONField()),
                        ('backtest', models.JSONField(blank=True, default=dict, help_text='Scores of the latest refit, per target.')),
                        ('cooling_per_it', models.FloatField(help_text='Fitted kW of cooling load per kW of IT load.')),
                        ('inlet_c_per_utilisation', models.FloatField()),
                        ('outdoor_measured', models.BooleanField(default=True)),
                        ('hall', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='forecasts', to='telemetry.hall')),
                        ('run', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='hall_forecast', to='forecasts.forecastrun')),
                    ],
                    options={
                        'db_table': 'planner_hallforecast',
                        'ordering': ['-as_of'],
                    },
                ),
                migrations.AddIndex(
                    model_name='forecastrun',
                    index=models.Index(fields=['organization', 'kind', '-started'], name='forecast_run_org_kind'),
                ),
                migrations.AddConstraint(
                    model_name='alert',
                    constraint=models.UniqueConstraint(condition=models.Q(('resolved_at__isnull', True)), fields=('organization', 'dedup_key'), name='one_open_alert_per_condition'),
                ),
                migrations.AddIndex(
                    model_name='gpuriskscore',
                    index=models.Index(fields=['gpu', '-as_of'], name='risk_score_gpu_time'),
                ),
                migrations.AddConstraint(
                    model_name='gpuriskscore',
                    constraint=models.UniqueConstraint(fields=('run', 'gpu'), name='risk_score_per_run_gpu'),
                ),
                migrations.AddIndex(
                    model_name='hallforecast',
                    index=models.Index(fields=['hall', '-as_of'], name='hall_forecast_latest'),
                ),
            ],
        ),
    ]
