import os
import subprocess
import sys

import pytest

from scheduler.embedded import ROOT

pytestmark = [pytest.mark.integration]


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        **os.environ,
        "SECRET_KEY": "x" * 64 + "production-secret-from-the-environment",
        "ALLOWED_HOSTS": "scheduler.example.org",
        "WCIDT_DATA_DIR": str(tmp_path),
    }
    env.pop("DEBUG", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout
    assert not (tmp_path / "secret_key").exists()


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    env = {**os.environ, "WCIDT_DATA_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    code = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"
    run = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    env["DJANGO_SETTINGS_MODULE"] = "scheduler.settings"
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    second = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert first.stdout == second.stdout
    key, debug = first.stdout.split()
    assert len(key) >= 50 and debug == "True"
    assert (tmp_path / "secret_key").read_text().strip() == key
