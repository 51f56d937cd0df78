import pytest

from tests.api import user_package


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    """The example extension package installed under tmp_path (entry points discoverable)."""
    site = tmp_path / "site"
    site.mkdir()
    groups = user_package.install(site)
    monkeypatch.syspath_prepend(str(site))
    yield groups
    user_package.uninstall()
