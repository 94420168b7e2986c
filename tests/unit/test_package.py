from __future__ import annotations

import io
import zipfile

from deployer import package


def test_same_sources_give_the_same_bytes() -> None:
    assert package.sha256(package.build_zip()) == package.sha256(package.build_zip())


def test_package_holds_every_handler_and_the_domain_package_and_nothing_else() -> None:
    names = zipfile.ZipFile(io.BytesIO(package.build_zip())).namelist()
    for module in ("discover.py", "check_health.py", "request_approval.py", "swap_traffic.py", "notify.py",
                   "approval_api.py", "release/__init__.py", "release/gateways/elbv2.py"):
        assert module in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]
