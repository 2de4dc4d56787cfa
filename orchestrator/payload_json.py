"""The saga's data converter: Temporal's ``json/plain`` payloads, encoded and decoded by msgspec.

The SDK's own JSON converter turns a dataclass into a dict and back through reflection on every
payload; ``py-spy`` put payload conversion at 7% of the payments worker's samples, and a round
trip of one payment's payloads costs about 40 times less CPU with msgspec (``make bench-payloads``).

The payloads are the SDK's: the same ``json/plain`` encoding, keys sorted, no spaces, byte for
byte for the saga's types while their text is ASCII (msgspec writes other text as UTF-8 where the
SDK escapes it; both are JSON). Histories recorded before replay with this converter, and
histories recorded with it are read by any SDK's default converter. Where msgspec cannot take a
value or a type (a class it does not know, a value its strict decoding refuses), the SDK's
converter does the work, so a payload means what it meant before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

_ENCODER = msgspec.json.Encoder(order="sorted")
_UNTYPED = msgspec.json.Decoder()


@lru_cache(maxsize=256)
def _decoder(type_hint: Any) -> msgspec.json.Decoder[Any] | None:
    """A decoder for ``type_hint``, or None when msgspec cannot build one."""
    try:
        return msgspec.json.Decoder(type_hint)
    except (TypeError, ValueError):
        return None


class MsgspecJSONPayloadConverter(JSONPlainPayloadConverter):
    """``json/plain`` through msgspec, falling back to the SDK's converter value by value."""

    def to_payload(self, value: Any) -> Payload | None:
        """Encode ``value`` with sorted keys and no spaces, as the SDK's converter does."""
        try:
            data = _ENCODER.encode(value)
        except (TypeError, msgspec.EncodeError):
            return super().to_payload(value)
        return Payload(metadata={"encoding": b"json/plain"}, data=data)

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        """Decode into ``type_hint`` (a plain JSON value without one)."""
        try:
            decoder = _UNTYPED if type_hint is None else _decoder(type_hint)
        except TypeError:  # a hint that cannot be a cache key: the SDK's converter reads it
            decoder = None
        if decoder is not None:
            try:
                return decoder.decode(payload.data)
            except msgspec.ValidationError:
                pass  # the SDK's lenient conversion may still read it
            except msgspec.DecodeError as exc:
                raise RuntimeError("Failed parsing") from exc
        return super().from_payload(payload, type_hint)


class SagaPayloadConverter(CompositePayloadConverter):
    """The SDK's default converters in its order, with its ``json/plain`` one replaced."""

    def __init__(self) -> None:
        """Null, bytes, protobuf JSON, protobuf binary, then JSON through msgspec."""
        super().__init__(
            *(
                MsgspecJSONPayloadConverter()
                if type(converter) is JSONPlainPayloadConverter
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


#: What every client, worker and replayer of the saga converts payloads with.
SAGA_DATA_CONVERTER = DataConverter(payload_converter_class=SagaPayloadConverter)
