"""The message bus: synchronous dispatch in subscription order, per topic."""

from __future__ import annotations

from typing import Any

import pytest

from heron.core.bus import MessageBus


def recorder(log: list[tuple[str, Any]], name: str) -> Any:
    def handler(message: Any) -> None:
        log.append((name, message))

    return handler


def test_bus_dispatch_order_is_subscription_order() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    for name in ("c", "a", "b"):
        bus.subscribe("fills", recorder(log, name))
    bus.publish("fills", 1)
    bus.publish("fills", 2)
    assert log == [("c", 1), ("a", 1), ("b", 1), ("c", 2), ("a", 2), ("b", 2)]


def test_bus_publish_reaches_only_its_topic() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    bus.subscribe("orders", recorder(log, "orders"))
    bus.subscribe("fills", recorder(log, "fills"))
    bus.publish("orders", "x")
    assert log == [("orders", "x")]


def test_bus_publish_without_subscribers_does_nothing() -> None:
    bus = MessageBus()
    bus.publish("nobody", object())
    assert bus.topics() == []


def test_bus_duplicate_subscribe_raises_and_keeps_one() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    handler = recorder(log, "h")
    bus.subscribe("t", handler)
    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("t", handler)
    bus.publish("t", 1)
    assert log == [("h", 1)]


def test_bus_same_handler_on_two_topics_is_allowed() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    handler = recorder(log, "h")
    bus.subscribe("a", handler)
    bus.subscribe("b", handler)
    bus.publish("a", 1)
    bus.publish("b", 2)
    assert log == [("h", 1), ("h", 2)]


def test_bus_unsubscribe_stops_delivery_and_keeps_order_of_rest() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    handlers = {name: recorder(log, name) for name in "abc"}
    for handler in handlers.values():
        bus.subscribe("t", handler)
    bus.unsubscribe("t", handlers["b"])
    bus.publish("t", 0)
    assert log == [("a", 0), ("c", 0)]


def test_bus_resubscribe_after_unsubscribe_goes_last() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    a, b = recorder(log, "a"), recorder(log, "b")
    bus.subscribe("t", a)
    bus.subscribe("t", b)
    bus.unsubscribe("t", a)
    bus.subscribe("t", a)
    bus.publish("t", 0)
    assert log == [("b", 0), ("a", 0)]


def test_bus_unsubscribe_unknown_handler_raises() -> None:
    bus = MessageBus()
    with pytest.raises(ValueError):
        bus.unsubscribe("t", recorder([], "x"))


def test_bus_handlers_is_the_live_list() -> None:
    bus = MessageBus()
    live = bus.handlers("bars.X.SIM")
    assert live == []
    handler = recorder([], "h")
    bus.subscribe("bars.X.SIM", handler)
    assert live == [handler]
    assert bus.handlers("bars.X.SIM") is live


def test_bus_topics_are_sorted() -> None:
    bus = MessageBus()
    for topic in ("orders", "bars.B", "fills", "bars.A"):
        bus.subscribe(topic, recorder([], topic))
    assert bus.topics() == ["bars.A", "bars.B", "fills", "orders"]


def test_bus_handler_publishing_nested_runs_depth_first() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []

    def relay(message: Any) -> None:
        log.append(("relay", message))
        bus.publish("inner", message + 1)

    bus.subscribe("outer", relay)
    bus.subscribe("outer", recorder(log, "after"))
    bus.subscribe("inner", recorder(log, "inner"))
    bus.publish("outer", 1)
    assert log == [("relay", 1), ("inner", 2), ("after", 1)]


def test_bus_handler_unsubscribing_itself_does_not_skip_the_next() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []

    def once(message: Any) -> None:
        log.append(("once", message))
        bus.unsubscribe("t", once)

    bus.subscribe("t", once)
    bus.subscribe("t", recorder(log, "next"))
    bus.publish("t", 1)
    assert log == [("once", 1), ("next", 1)]


def test_bus_handler_subscribed_during_publish_waits_for_next_message() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    late = recorder(log, "late")

    def adder(message: Any) -> None:
        log.append(("adder", message))
        if late not in bus.handlers("t"):
            bus.subscribe("t", late)

    bus.subscribe("t", adder)
    bus.publish("t", 1)
    assert log == [("adder", 1)]
