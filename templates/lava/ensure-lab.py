"""Run by `invoke lab up` inside LAVA's own Django (`lava-server manage shell -c`), never by the
workbench's Python: makes sure the superuser, its API token, the worker, the device type and the
devices exist. The secrets come in environment variables, never on a command line (so never in
a log); the last line printed is JSON: what was created, and the worker's token."""
import json
import os

from django.contrib.auth.models import User
from django.core.management import call_command
from lava_scheduler_app.models import Device, DeviceType, Worker
from linaro_django_xmlrpc.models import AuthToken

cfg = json.loads(os.environ["WORKBENCH_LAB"])
created = []
user = User.objects.filter(username=cfg["user"]).first()
if user is None:
    user = User.objects.create_superuser(cfg["user"], "admin@localhost", os.environ["WORKBENCH_LAB_PASSWORD"])
    created.append(f"superuser {user.username}")
if not AuthToken.objects.filter(user=user, secret=os.environ["WORKBENCH_LAB_TOKEN"]).exists():
    AuthToken.objects.create(user=user, secret=os.environ["WORKBENCH_LAB_TOKEN"], description="kernel workbench")
    created.append(f"API token for {user.username}")
if not Worker.objects.filter(hostname=cfg["worker"]).exists():
    call_command("workers", "add", cfg["worker"], "--description", "kernel workbench loopback worker")
    created.append(f"worker {cfg['worker']}")
if not DeviceType.objects.filter(name=cfg["device_type"]).exists():
    call_command("device-types", "add", cfg["device_type"])
    created.append(f"device type {cfg['device_type']}")
for name in cfg["devices"]:
    if not Device.objects.filter(hostname=name).exists():
        call_command("devices", "add", "--device-type", cfg["device_type"], "--worker", cfg["worker"],
                     "--description", "kernel workbench TCG qemu", name)
        created.append(f"device {name}")
print(json.dumps({"created": created, "worker_token": Worker.objects.get(hostname=cfg["worker"]).token}))
