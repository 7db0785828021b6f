"""Finding plugins and calling them: one plugin per call, and misbehaviour contained."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN
from pydantic import BaseModel, ConfigDict

from smsgate import (
    BuiltPayload,
    CallbackError,
    CallbackRequest,
    DeliveryEvent,
    EventKind,
    OutboundMessage,
    SendResult,
    VendorRequest,
    hookimpl,
)
from smsgate.config import load_config
from smsgate.errors import PluginHookError, PluginLoadError
from smsgate.plugins import VendorPlugin, load_plugins

MESSAGE = OutboundMessage(id=1, message_id="m.1.", to="+919876543210", body="hi")
REQUEST = VendorRequest(method="POST", url="https://vendor.test/send", message_ids=(1,))
CALLBACK = CallbackRequest(method="GET", headers={}, query={"id": "v1"}, body=b"")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: str = "k"


NO_OPTIONS = _Options()


class _Vendor:
    """A well-behaved throwaway plugin that signs everything it returns with its label."""

    def __init__(self, label: str) -> None:
        self.label = label

    @hookimpl
    def options_model(self) -> type[BaseModel]:
        return _Options

    @hookimpl
    def build_payload(self, messages: list[OutboundMessage]) -> BuiltPayload:
        url = f"https://{self.label}.test/send"
        ids = tuple(m.id for m in messages)
        return BuiltPayload(requests=[VendorRequest(method="POST", url=url, message_ids=ids)])

    @hookimpl
    async def send_batch(self, requests: list[VendorRequest]) -> list[SendResult]:
        return [SendResult.submitted(i, self.label) for r in requests for i in r.message_ids]

    @hookimpl
    def parse_callback(self, request: CallbackRequest) -> list[DeliveryEvent]:
        if "id" not in request.query:
            raise CallbackError("no id in the report")
        at = datetime(2026, 1, 1, tzinfo=UTC)
        return [DeliveryEvent(self.label, EventKind.DELIVERED, at)]


class _Raising:
    @hookimpl
    def build_payload(self) -> BuiltPayload:
        raise ValueError("the plugin has a bug")

    @hookimpl
    async def send_batch(self) -> list[SendResult]:
        raise RuntimeError("the plugin has a bug")

    @hookimpl
    def parse_callback(self) -> list[DeliveryEvent]:
        raise KeyError("Status")


class _WrongTypes:
    @hookimpl
    def options_model(self) -> Any:
        return {"api_key": str}

    @hookimpl
    def build_payload(self) -> Any:
        return {"url": "https://vendor.test"}

    @hookimpl
    async def send_batch(self) -> Any:
        return ["submitted"]

    @hookimpl
    def parse_callback(self) -> Any:
        return None


class _Misspelt:
    @hookimpl
    def build_payloads(self) -> None:  # not a hook smsgate knows
        return None


class _WrongArgument:
    @hookimpl
    def build_payload(self, message: OutboundMessage) -> None:  # spec says `messages`
        return None


def _send(plugin: VendorPlugin) -> list[SendResult]:
    async def run() -> list[SendResult]:
        async with httpx.AsyncClient() as client:
            return await plugin.send_batch([REQUEST], client, NO_OPTIONS)

    return asyncio.run(run())


# --- finding plugins ------------------------------------------------------------------------


def test_built_in_plugins_are_found_through_their_entry_points():
    names = {ep.name: ep.value for ep in entry_points(group="smsgate")}
    assert names["pingbix"] == "smsgate_pingbix"
    assert names["example_provider"] == "smsgate_example_provider"
    plugins = load_plugins()
    assert {"pingbix", "example_provider"} <= set(plugins.plugins)
    assert plugins.infos["pingbix"].version == "0.1.0"
    assert "options_model" in plugins.infos["pingbix"].hooks
    assert plugins.failures == {}


def test_without_entry_points_only_the_given_plugins_are_loaded():
    plugins = load_plugins(use_entry_points=False, extra={"a": _Vendor("a")})
    assert list(plugins.plugins) == ["a"]
    assert plugins.infos["a"].hooks == (
        "options_model",
        "build_payload",
        "send_batch",
        "parse_callback",
    )


def test_plugin_that_fails_to_import_is_kept_aside_and_the_others_work(install_plugin, caplog):
    install_plugin("crashing", "raise RuntimeError('missing vendor SDK')\n")
    with caplog.at_level(logging.ERROR, logger="smsgate.plugins"):
        plugins = load_plugins()
    error = plugins.failures["crashing"]
    assert isinstance(error, PluginLoadError)
    assert str(error) == ("plugin 'crashing' failed to import: RuntimeError: missing vendor SDK")
    assert plugins.infos["crashing"].error == str(error)
    assert "crashing" in caplog.text and "Traceback" in caplog.text
    assert {"pingbix", "example_provider"} <= set(plugins.plugins)
    with pytest.raises(PluginLoadError):
        plugins.get("crashing")


def test_third_party_plugin_is_loaded_like_a_built_in_one(install_plugin):
    module = install_plugin(
        "acme",
        """
        from smsgate import hookimpl

        @hookimpl
        def build_payload(messages):
            return None
        """,
    )
    plugins = load_plugins()
    assert plugins.infos["acme"].module == module
    assert plugins.infos["acme"].version == "0.1"
    assert plugins.infos["acme"].hooks == ("build_payload",)


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [(_Misspelt(), "build_payloads"), (_WrongArgument(), "message")],
    ids=["hookimpl-without-spec", "argument-not-in-spec"],
)
def test_plugin_that_fails_to_register_is_kept_aside_and_the_others_work(plugin, reason):
    plugins = load_plugins(extra={"careless": plugin, "good": _Vendor("good")})
    error = plugins.failures["careless"]
    assert str(error).startswith("plugin 'careless' failed to register:")
    assert reason in str(error)
    assert "careless" not in plugins.plugins
    assert not plugins.manager.is_registered(plugin)
    assert plugins.get("good").build_payload([MESSAGE], NO_OPTIONS).requests[0].url == (
        "https://good.test/send"
    )


def test_a_second_plugin_under_a_taken_name_is_ignored_with_a_warning(caplog):
    impostor = _Vendor("impostor")
    with caplog.at_level(logging.WARNING, logger="smsgate.plugins"):
        plugins = load_plugins(extra={"pingbix": impostor})
    assert "plugin 'pingbix' is installed twice; keeping the first" in caplog.text
    assert not plugins.manager.is_registered(impostor)
    assert plugins.infos["pingbix"].module == "smsgate_pingbix"
    assert plugins.failures == {}


# --- one plugin per call --------------------------------------------------------------------


def test_each_facade_calls_only_its_own_plugin_when_two_implement_the_same_hooks():
    plugins = load_plugins(extra={"alpha": _Vendor("alpha"), "beta": _Vendor("beta")})
    alpha, beta = plugins.get("alpha"), plugins.get("beta")

    assert alpha.build_payload([MESSAGE], NO_OPTIONS).requests[0].url == "https://alpha.test/send"
    assert beta.build_payload([MESSAGE], NO_OPTIONS).requests[0].url == "https://beta.test/send"
    assert _send(alpha) == [SendResult.submitted(1, "alpha")]
    assert _send(beta) == [SendResult.submitted(1, "beta")]
    assert alpha.parse_callback(CALLBACK, NO_OPTIONS)[0].vendor_id == "alpha"
    assert beta.parse_callback(CALLBACK, NO_OPTIONS)[0].vendor_id == "beta"


def test_a_plugin_registered_later_never_answers_for_an_earlier_facade():
    plugins = load_plugins(extra={"alpha": _Vendor("alpha")})
    alpha = plugins.get("alpha")
    assert alpha.parse_callback(CALLBACK, NO_OPTIONS)[0].vendor_id == "alpha"

    plugins.manager.register(_Vendor("late"), name="late")

    assert alpha.parse_callback(CALLBACK, NO_OPTIONS)[0].vendor_id == "alpha"
    assert alpha.build_payload([MESSAGE], NO_OPTIONS).requests[0].url == "https://alpha.test/send"


def test_plugin_without_a_hook_says_so_instead_of_asking_another_plugin():
    plugins = load_plugins(extra={"bare": object(), "full": _Vendor("full")})
    bare = plugins.get("bare")
    assert bare.hooks == ()
    for call in [
        lambda: bare.build_payload([MESSAGE], NO_OPTIONS),
        lambda: _send(bare),
        lambda: bare.parse_callback(CALLBACK, NO_OPTIONS),
    ]:
        with pytest.raises(PluginHookError, match="plugin 'bare' does not implement"):
            call()


def test_plugin_without_options_model_accepts_no_options(tmp_path):
    plugins = load_plugins(use_entry_points=False, extra={"bare": object()})
    path = tmp_path / "smsgate.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [providers.bare-one]
            plugin = "bare"
            token = "{TOKEN}"
            callback_token = "{CALLBACK_TOKEN}"
            clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=T"
            options = {{ anything = 1 }}
            """
        )
    )
    with pytest.raises(Exception, match=r"providers.bare-one.options.anything: unknown key"):
        load_config(path, plugins, {})


# --- misbehaviour ---------------------------------------------------------------------------


def test_hook_that_raises_becomes_plugin_hook_error_and_is_logged(caplog):
    plugin = load_plugins(use_entry_points=False, extra={"buggy": _Raising()}).get("buggy")
    with caplog.at_level(logging.ERROR, logger="smsgate.plugins"):
        with pytest.raises(PluginHookError, match="plugin 'buggy' raised ValueError in build_p"):
            plugin.build_payload([MESSAGE], NO_OPTIONS)
        with pytest.raises(PluginHookError, match="raised RuntimeError in send_batch") as caught:
            _send(plugin)
        with pytest.raises(PluginHookError, match="raised KeyError in parse_callback"):
            plugin.parse_callback(CALLBACK, NO_OPTIONS)
    assert caught.value.plugin == "buggy"
    assert "the plugin has a bug" in caplog.text  # the traceback is for the operator's log


def test_callback_error_passes_through_with_the_plugins_reason():
    plugin = load_plugins(use_entry_points=False, extra={"v": _Vendor("v")}).get("v")
    empty = CallbackRequest(method="GET", headers={}, query={}, body=b"")
    with pytest.raises(CallbackError, match="no id in the report"):
        plugin.parse_callback(empty, NO_OPTIONS)


def test_hook_returning_the_wrong_type_becomes_plugin_hook_error_and_is_logged(caplog):
    plugin = load_plugins(use_entry_points=False, extra={"odd": _WrongTypes()}).get("odd")
    with caplog.at_level(logging.ERROR, logger="smsgate.plugins"):
        with pytest.raises(PluginHookError, match="options_model returned dict, not a pydantic"):
            plugin.options_model()
        with pytest.raises(PluginHookError, match="build_payload returned dict, not BuiltPayl"):
            plugin.build_payload([MESSAGE], NO_OPTIONS)
        with pytest.raises(PluginHookError, match="send_batch returned list of str, not a seque"):
            _send(plugin)
        with pytest.raises(PluginHookError, match="parse_callback returned NoneType, not a se"):
            plugin.parse_callback(CALLBACK, NO_OPTIONS)
    assert caplog.text.count("(a plugin bug)") == 4


def test_synchronous_send_batch_is_tolerated():
    class _Sync:
        @hookimpl
        def send_batch(self, requests: list[VendorRequest]) -> list[SendResult]:
            return [SendResult.retry(1, "busy")]

    plugin = load_plugins(use_entry_points=False, extra={"sync": _Sync()}).get("sync")
    assert _send(plugin) == [SendResult.retry(1, "busy")]


def test_provider_of_a_broken_plugin_is_marked_broken_and_the_file_stays_valid(
    tmp_path: Path, install_plugin
):
    install_plugin("crashing", "raise ImportError('no module named vendor_sdk')\n")
    plugins = load_plugins(extra={"odd": _WrongTypes(), "half": _OnlyCallbacks()})
    text = ""
    providers = [
        ("one", "crashing"),
        ("two", "odd"),
        ("three", "example_provider"),
        ("four", "half"),
    ]
    for nickname, plugin in providers:
        text += textwrap.dedent(
            f"""
            [providers.{nickname}]
            plugin = "{plugin}"
            token = "{TOKEN}"
            callback_token = "{CALLBACK_TOKEN}"
            clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=T"
            """
        )
    text += (
        "[providers.three.options]\n"
        'api_key = "example-key"\n'
        'webhook_secret = "whsec_Y29udHJhY3Qtc2lnbmluZy1rZXktMDEyMzQ1Njc4OQ=="\n'
        'sender = "ACMEIN"\n'
    )
    path = tmp_path / "smsgate.toml"
    path.write_text(text)
    config = load_config(path, plugins, {})
    assert config.broken == {
        "one": "plugin 'crashing' failed to import: ImportError: no module named vendor_sdk",
        "two": "plugin 'odd': options_model returned dict, not a pydantic model class",
        # It could never send: accepting CleverTap's messages for it would strand them.
        "four": "plugin 'half' does not implement build_payload, send_batch",
    }
    assert config.providers["three"].broken is None


class _OnlyCallbacks:
    @hookimpl
    def parse_callback(self, request: CallbackRequest, options: BaseModel) -> list[DeliveryEvent]:
        return []


class _Templates:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def template_text(self, template_id: str, variables: tuple[str, ...]) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer.format(*variables) if isinstance(self.answer, str) else self.answer


@pytest.mark.parametrize(
    ("plugin", "text", "logged"),
    [
        (_Templates("OTP {0}, valid {1} min"), "OTP 12, valid 5 min", None),
        (_Templates(None), None, None),
        (_Templates(RuntimeError("no such template")), None, "raised in template_text"),
        (_Templates(["OTP"]), None, "template_text returned list, not str or None"),
        (_OnlyCallbacks(), None, None),
    ],
    ids=["filled", "cannot-tell", "raises", "wrong-type", "not-implemented"],
)
def test_a_template_text_that_cannot_be_had_is_none_and_a_bug_is_logged(
    plugin: object, text: str | None, logged: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = load_plugins(use_entry_points=False, extra={"t": plugin}).get("t")

    assert vendor.template_text("1107", ("12", "5"), "12|5", NO_OPTIONS) == text
    if logged is not None:
        assert logged in caplog.text
