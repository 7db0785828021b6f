"""``smsgate plugins``: what is installed, its hooks and options, and whether it is healthy."""

from __future__ import annotations

from click.testing import CliRunner

from smsgate.cli import main


def listing() -> list[str]:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout.splitlines()


def entry(lines: list[str], header: str) -> list[str]:
    """The lines about one plugin: its header and the indented lines under it."""
    start = lines.index(header)
    rest = lines[start + 1 :]
    end = next((i for i, line in enumerate(rest) if not line.startswith("  ")), len(rest))
    return rest[:end]


def test_built_in_plugins_are_listed_with_version_hooks_options_and_health():
    lines = listing()

    assert entry(lines, "pingbix 0.1.0 (smsgate_pingbix)") == [
        "  hooks: options_model, build_payload, send_batch, parse_callback, template_text, "
        "lookup_status, sandbox_app",
        "  options: smsgate_pingbix.options.PingbixOptions",
        "  health: ok",
    ]
    assert entry(lines, "example_provider 0.1.0 (smsgate_example_provider)") == [
        "  hooks: options_model, build_payload, send_batch, parse_callback, lookup_status, "
        "sandbox_app",
        "  options: smsgate_example_provider.options.ExampleOptions",
        "  health: ok",
    ]


def test_a_plugin_that_fails_to_import_shows_its_error_and_the_others_are_listed(
    install_plugin,
):
    module = install_plugin("crashing", "import vendor_sdk_that_is_not_installed\n")

    lines = listing()

    assert entry(lines, f"crashing 0.1 ({module})") == [
        "  health: BROKEN: plugin 'crashing' failed to import: ModuleNotFoundError: "
        "No module named 'vendor_sdk_that_is_not_installed'"
    ]
    assert entry(lines, "pingbix 0.1.0 (smsgate_pingbix)")[-1] == "  health: ok"


def test_a_plugin_whose_options_model_raises_is_broken_with_the_reason(install_plugin):
    module = install_plugin(
        "badopts",
        """
        from smsgate import hookimpl

        @hookimpl
        def options_model():
            raise RuntimeError("vendor SDK missing")
        """,
    )

    lines = listing()

    assert entry(lines, f"badopts 0.1 ({module})") == [
        "  hooks: options_model",
        "  options: unavailable (see health)",
        "  health: BROKEN: plugin 'badopts' raised RuntimeError in options_model "
        "(vendor SDK missing)",
    ]
    assert entry(lines, "example_provider 0.1.0 (smsgate_example_provider)")[-1] == ("  health: ok")


def test_a_plugin_missing_a_needed_hook_is_incomplete(install_plugin):
    module = install_plugin(
        "halfway",
        """
        from smsgate import BuiltPayload, hookimpl

        @hookimpl
        def build_payload(messages, options):
            return BuiltPayload()
        """,
    )

    lines = listing()

    assert entry(lines, f"halfway 0.1 ({module})")[-1] == (
        "  health: incomplete: does not implement send_batch, parse_callback"
    )
