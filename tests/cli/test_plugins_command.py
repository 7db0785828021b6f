"""``smsgate plugins``: what is installed, which hooks each implements, and what is broken."""

from __future__ import annotations

from click.testing import CliRunner

from smsgate.cli import main


def test_built_in_plugins_are_listed_with_version_module_and_hooks():
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    pingbix = lines.index("pingbix 0.1.0 (smsgate_pingbix)")
    assert lines[pingbix + 1].startswith("  hooks: options_model, build_payload")
    example = lines.index("example_provider 0.1.0 (smsgate_example_provider)")
    assert lines[example + 1].startswith("  hooks: options_model")


def test_broken_plugin_shows_its_error_and_the_others_are_still_listed(install_plugin):
    module = install_plugin("crashing", "import vendor_sdk_that_is_not_installed\n")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    broken = lines.index(f"crashing 0.1 ({module})")
    assert lines[broken + 1] == (
        "  BROKEN: plugin 'crashing' failed to import: ModuleNotFoundError: "
        "No module named 'vendor_sdk_that_is_not_installed'"
    )
    assert "pingbix 0.1.0 (smsgate_pingbix)" in lines
    assert "Traceback" not in result.output
