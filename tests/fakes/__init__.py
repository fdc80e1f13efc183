"""Fakes of outside services for end-to-end tests; nothing here reaches the internet."""

from tests.fakes.telegram import (
    AnsweredCallback,
    ApiCall,
    ApiError,
    Button,
    FakeChat,
    FakeMessage,
    FakeTelegram,
    FakeUser,
    PhotoInfo,
    PlainHttpSession,
    StoredFile,
    Upload,
)

__all__ = [
    "AnsweredCallback",
    "ApiCall",
    "ApiError",
    "Button",
    "FakeChat",
    "FakeMessage",
    "FakeTelegram",
    "FakeUser",
    "PhotoInfo",
    "PlainHttpSession",
    "StoredFile",
    "Upload",
]
