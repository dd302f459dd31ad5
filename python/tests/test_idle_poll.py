"""Idle polling on the local lane: a worker polls for the next frame only while frames come
closer together than its window, and otherwise sleeps in recv (real sockets, no worker)."""
import socket
import struct
import threading
import time

import pytest

from snakepit_bridge import messages as pb
from snakepit_bridge.framesocket import FrameSocket

HEADER = struct.Struct(">I")


def frame(cid: int) -> bytes:
    body = pb.ClientFrame(pings=[cid]).SerializeToString()
    return HEADER.pack(len(body)) + body


@pytest.fixture
def pair():
    """(a FrameSocket with the given polling window, Node's end of its socket)."""
    made = []

    def make(window_s: float):
        ours, node = socket.socketpair()
        made.extend((ours, node))
        fs = FrameSocket(ours, 1 << 20)
        fs.idle_poll_s = window_s
        return fs, node

    yield make
    for sock in made:
        sock.close()


def test_frames_that_come_within_the_window_are_read_by_polling_whole_and_in_order(pair):
    fs, node = pair(0.05)

    def send():
        for seq in range(1, 201):
            node.sendall(frame(seq))
            time.sleep(0.001)

    sender = threading.Thread(target=send)
    sender.start()
    seen = [list(fs.next_frame().pings)[0] for _ in range(200)]
    sender.join()
    assert seen == list(range(1, 201))
    assert fs._poll_pays  # gaps of ≈ 1 ms are inside a 50 ms window


def test_after_a_gap_longer_than_the_window_the_reader_sleeps_instead_of_polling(pair):
    fs, node = pair(0.01)
    node.sendall(frame(1))
    fs.next_frame()
    # A gap of 1.5 s: the first read polls for its 10 ms window, then sleeps in recv.
    threading.Timer(1.5, lambda: node.sendall(frame(2))).start()
    cpu0 = time.thread_time()
    assert list(fs.next_frame().pings) == [2]
    assert time.thread_time() - cpu0 < 0.5  # polling all along would take ≈ 1.5 s of CPU
    assert not fs._poll_pays  # the next wait sleeps at once
    threading.Timer(0.5, lambda: node.sendall(frame(3))).start()
    cpu0 = time.thread_time()
    assert list(fs.next_frame().pings) == [3]
    assert time.thread_time() - cpu0 < 0.1


def test_without_a_window_the_reader_never_polls(pair):
    fs, node = pair(0.0)
    for seq in range(1, 4):
        node.sendall(frame(seq))
        assert list(fs.next_frame().pings) == [seq]
        assert not fs._poll_pays


def test_a_peer_that_closes_while_the_reader_polls_ends_the_read(pair):
    fs, node = pair(0.5)
    node.sendall(frame(1))
    fs.next_frame()
    fs._poll_pays = True
    threading.Timer(0.05, node.shutdown, args=(socket.SHUT_WR,)).start()
    assert fs.next_frame() is None
