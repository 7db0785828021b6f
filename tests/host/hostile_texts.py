"""Text that has broken gateways, for the hostile-input tests of both endpoints."""

from __future__ import annotations

HOSTILE = [
    "'; DROP TABLE messages; --",
    "1' OR '1'='1",
    '" OR 1=1 /*',
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %n",
    "שלום עולם",
    "مرحبا\u200f",
    "\u202eevil\u202c",
    "😀👍🏽👨‍👩‍👧",
    "\u00a0\u2028\u2029\ufeff",
    "\\x00 \\u0000",
]
