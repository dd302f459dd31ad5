"""Comparing a token a client sent with the one it must match, in constant time.

hmac.compare_digest does this, but importing hmac loads OpenSSL (≈ 4 ms of every worker's
start); _operator._compare_digest is the same comparison without it, and hmac's own fallback.
"""
try:
    from _operator import _compare_digest as same_token
except ImportError:  # an interpreter without it
    from hmac import compare_digest as same_token

__all__ = ["same_token"]
