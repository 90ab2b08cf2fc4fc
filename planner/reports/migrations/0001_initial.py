# The report and export-link models, moved from the planner app with their tables (planner_*): state only.

import datetime
import django.core.validators
import django.db.models.deletion
import planner.reports.models
import telemetry.models.inventory
from django.conf import settings
from django.db import migrations, models

from planner.content_types import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('planner', '0009_reference_devices'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('telemetry', '0013_site_price_default_decimal'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Permissions and admin history keep their rows: the content types change app, not identity.
        move_content_types(['reportsubscription', 'reportdelivery', 'reportdeliveryattempt', 'exportlink'], 'planner', 'reports'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExportLink',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text="What the link is for, e.g. 'capacity sheet'.", max_length=120)),
                        ('token_hash', models.CharField(editable=False, max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='export_links', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'planner_exportlink',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='ReportSubscription',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120)),
                        ('recipients', models.JSONField(default=list, help_text='Email addresses the report is sent to.', validators=[planner.reports.models.validate_recipients])),
                        ('cadence', models.CharField(choices=[('daily', 'Daily'), ('weekly', 'Weekly'), ('monthly', 'Monthly')], default='weekly', max_length=10)),
                        ('send_time', models.TimeField(default=datetime.time(7, 0), help_text="Local time of day in the report's timezone.")),
                        ('timezone', models.CharField(default='UTC', max_length=64, validators=[telemetry.models.inventory.validate_timezone])),
                        ('weekday', models.PositiveSmallIntegerField(default=0, help_text='Weekly reports: 0 = Monday … 6 = Sunday.', validators=[django.core.validators.MaxValueValidator(6)])),
                        ('monthday', models.PositiveSmallIntegerField(default=1, help_text='Monthly reports: day of month; short months use their last day.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(31)])),
                        ('sections', models.JSONField(default=planner.reports.models.default_sections, validators=[planner.reports.models.validate_sections])),
                        ('format', models.CharField(choices=[('html', 'HTML email'), ('html+xlsx', 'HTML email with XLSX attachment')], default='html+xlsx', max_length=10)),
                        ('enabled', models.BooleanField(default=True)),
                        ('next_run_at', models.DateTimeField(blank=True, db_index=True, editable=False, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='report_subscriptions', to='telemetry.organization')),
                    ],
                    options={
                        'db_table': 'planner_reportsubscription',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='ReportDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('scheduled_for', models.DateTimeField(help_text='The run this delivery belongs to (UTC).')),
                        ('status', models.CharField(choices=[('queued', 'queued'), ('sending', 'sending'), ('sent', 'sent'), ('failed', 'failed')], db_index=True, default='queued', max_length=10)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('claimed_at', models.DateTimeField(blank=True, help_text="When the latest attempt claimed it; a 'sending' lease runs from here.", null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('message_id', models.CharField(blank=True, help_text='The same on every attempt.', max_length=255)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('subscription', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='reports.reportsubscription')),
                    ],
                    options={
                        'verbose_name_plural': 'report deliveries',
                        'db_table': 'planner_reportdelivery',
                        'ordering': ['-scheduled_for'],
                    },
                ),
                migrations.CreateModel(
                    name='ReportDeliveryAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveSmallIntegerField()),
                        ('started_at', models.DateTimeField()),
                        ('finished_at', models.DateTimeField(blank=True, help_text='For a lost worker: when that was noticed.', null=True)),
                        ('outcome', models.CharField(choices=[('sending', 'sending'), ('sent', 'sent'), ('error', 'error'), ('worker_lost', 'worker lost, outcome unknown')], default='sending', max_length=12)),
                        ('error', models.TextField(blank=True)),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='reports.reportdelivery')),
                    ],
                    options={
                        'db_table': 'planner_reportdeliveryattempt',
                        'ordering': ['delivery', 'number'],
                        'constraints': [models.UniqueConstraint(fields=('delivery', 'number'), name='one_row_per_delivery_attempt')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='reportsubscription',
                    constraint=models.UniqueConstraint(fields=('organization', 'name'), name='report_subscription_name_per_org', violation_error_message='A report with this name already exists in the organization.'),
                ),
                migrations.AddConstraint(
                    model_name='reportdelivery',
                    constraint=models.UniqueConstraint(fields=('subscription', 'scheduled_for'), name='one_delivery_per_run'),
                ),
            ],
        ),
    ]
