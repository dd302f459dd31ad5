"""Idle waiting on the local lane: a worker polls for the next frame only while frames come
closer together than its window and polling has been the quicker way to wait, and otherwise
sleeps in recv (real sockets, no worker; the chooser alone with made-up waits)."""
import socket
import struct
import threading
import time

import pytest

from snakepit_bridge import wire as pb
from snakepit_bridge.framesocket import FrameSocket
from snakepit_bridge.idlewait import EXPLORE_EVERY, IdleWait

HEADER = struct.Struct(">I")


def frame(cid: int) -> bytes:
    body = pb.ClientFrame(pings=[cid]).SerializeToString()
    return HEADER.pack(len(body)) + body


@pytest.fixture
def pair():
    """(a FrameSocket waiting with the given window, Node's end of its socket)."""
    made = []

    def make(window_s: float):
        ours, node = socket.socketpair()
        made.extend((ours, node))
        fs = FrameSocket(ours, 1 << 20)
        fs.idle = IdleWait(window_s)
        return fs, node

    yield make
    for sock in made:
        sock.close()


def test_frames_that_come_within_the_window_are_read_whole_and_in_order_both_ways(pair):
    fs, node = pair(0.05)
    polls = []
    poll = fs._poll
    fs._poll = lambda window_s: polls.append(window_s) or poll(window_s)

    def send():
        for seq in range(1, 201):
            node.sendall(frame(seq))
            time.sleep(0.001)

    sender = threading.Thread(target=send)
    sender.start()
    seen = [list(fs.next_frame().pings)[0] for _ in range(200)]
    sender.join()
    assert seen == list(range(1, 201))
    assert 0 < len(polls) < 200  # gaps of ≈ 1 ms are inside the window: both ways were used


def test_after_a_gap_longer_than_the_window_the_reader_sleeps_instead_of_polling(pair):
    fs, node = pair(0.01)
    node.sendall(frame(1))
    fs.next_frame()
    assert fs.idle.short
    # A gap of 1.5 s: the read polls at most its 10 ms window, then sleeps in recv.
    threading.Timer(1.5, lambda: node.sendall(frame(2))).start()
    cpu0 = time.thread_time()
    assert list(fs.next_frame().pings) == [2]
    assert time.thread_time() - cpu0 < 0.5  # polling all along would take ≈ 1.5 s of CPU
    assert not fs.idle.short  # the next wait sleeps at once
    threading.Timer(0.5, lambda: node.sendall(frame(3))).start()
    cpu0 = time.thread_time()
    assert list(fs.next_frame().pings) == [3]
    assert time.thread_time() - cpu0 < 0.1


def test_a_peer_that_closes_while_the_reader_polls_ends_the_read(pair):
    fs, node = pair(0.5)
    fs.idle.short = True
    fs.idle.average = [1.0, 0.0]  # polling looks better: the next wait polls
    threading.Timer(0.05, node.shutdown, args=(socket.SHUT_WR,)).start()
    assert fs.next_frame() is None


def test_the_chooser_tries_each_way_then_keeps_the_quicker_and_explores_the_other():
    idle = IdleWait(0.0001)
    idle.waited(False, 0.00008)  # a first wait, asleep, within the window: the next may poll
    assert idle.should_poll() is True  # polling not tried yet
    idle.waited(True, 0.00003)
    # Polling (30 µs) beat sleeping (80 µs): poll, except every EXPLORE_EVERY-th wait.
    choices = []
    for _ in range(EXPLORE_EVERY * 2):
        polled = idle.should_poll()
        choices.append(polled)
        idle.waited(polled, 0.00003 if polled else 0.00008)
    assert choices.count(False) == 2
    # The host gets busy: polled waits turn slow, and the explored sleeps show it.
    for _ in range(EXPLORE_EVERY * 8):
        polled = idle.should_poll()
        idle.waited(polled, 0.00009 if polled else 0.00002)
    assert idle.should_poll() is False


def test_waits_past_a_millisecond_are_a_paused_caller_and_move_no_average():
    idle = IdleWait(0.01)
    idle.waited(True, 0.00004)
    idle.waited(False, 0.00005)
    idle.waited(True, 0.005)  # 5 ms: within the window, so still short, but not a round trip
    assert idle.average == [0.00005, 0.00004]
    assert idle.short
