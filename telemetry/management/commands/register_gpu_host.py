"""Register the GPU host this runs on: its node, its GPUs as NVML reports them, and its NVML source.

Run once on each GPU host (where the worker of the host's queue runs); running it again updates the GPUs'
serials and models and leaves the rest as it is. A board swapped at an index stops it with an error.
"""

import socket

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from telemetry.collectors import nvml as nvml_collector
from telemetry.models import Gpu, GpuModel, Node, Rack, Source


class Command(BaseCommand):
    help = "Register this host's GPUs (read through NVML) under a rack, and an NVML source collecting them."
    stealth_options = ("nvml",)  # tests pass a replayed binding

    def add_arguments(self, parser):
        parser.add_argument("--rack", required=True, help="name of the rack the host is in")
        parser.add_argument("--org", help="organization slug (needed when several organizations have the rack)")
        parser.add_argument("--hostname", default=socket.gethostname(), help="node hostname (default: this host)")
        parser.add_argument("--model", help="GPU model name from the catalog, when NVML's name is ambiguous")
        parser.add_argument("--interval", type=int, default=10, help="collection interval in seconds")

    def handle(self, *args, rack, org, hostname, model, interval, **options):
        binding = options.get("nvml")
        if binding is None:
            import pynvml as binding
        binding.nvmlInit()  # released when this one-shot command exits
        inventory = nvml_collector.read_inventory(binding)
        if not inventory:
            raise CommandError("NVML reports no GPU on this host")

        racks = Rack.objects.filter(name=rack).select_related("hall__site__organization")
        if org:
            racks = racks.filter(hall__site__organization__slug=org)
        if len(racks) != 1:
            where = f" in organization {org!r}" if org else ""
            raise CommandError(f"{len(racks)} racks named {rack!r}{where}; give --org or create the rack first")
        (rack_obj,) = racks
        models = self._models(inventory, model, rack_obj.hall.site.organization)

        with transaction.atomic():
            node, _ = Node.objects.get_or_create(rack=rack_obj, hostname=hostname)
            for board in inventory:
                # A swapped board: the old GPU's samples and events (its failure history) must not go with it.
                held = Gpu.objects.filter(node=node, index=board.index).exclude(uuid=board.uuid).first()
                if held is not None:
                    raise CommandError(
                        f"{node.hostname}/gpu{board.index} is registered as {held.uuid}, NVML now reports "
                        f"{board.uuid}: a swapped board. Move or retire the old GPU's record first (admin), "
                        "so its history stays; nothing was changed."
                    )
                gpu = Gpu.objects.filter(uuid=board.uuid).first() or Gpu(uuid=board.uuid)
                verb = "updated" if gpu.pk else "registered"
                gpu.node, gpu.index, gpu.serial, gpu.model = node, board.index, board.serial, models[board.uuid]
                gpu.full_clean()
                gpu.save()
                self.stdout.write(f"{verb} {node.hostname}/gpu{board.index}: {board.name} as {gpu.model.name}")
            source, _ = Source.objects.update_or_create(
                organization=rack_obj.hall.site.organization,
                name=f"nvml {hostname}",
                defaults={"kind": Source.Kind.NVML, "endpoint": hostname, "interval_s": interval, "enabled": True},
            )
        self.stdout.write(f"source {source.name!r} (id {source.pk}) collects every {interval} s")

    def _models(self, inventory, name, organization):
        catalog = {m.name: m for m in GpuModel.objects.effective_for(organization)}
        if name:
            if name not in catalog:
                raise CommandError(f"no GPU model named {name!r} in the catalog")
            return {board.uuid: catalog[name] for board in inventory}
        rows = [(m.name, m.memory_gb, m.tdp_w) for m in catalog.values()]
        try:
            return {board.uuid: catalog[nvml_collector.match_catalog_model(board, rows)] for board in inventory}
        except LookupError as exc:
            raise CommandError(f"{exc} with --model") from None
