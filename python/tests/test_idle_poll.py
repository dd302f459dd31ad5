"""Idle polling on the local lane: a worker polls for the next frame only while frames come
closer together than its window, and otherwise sleeps in recv (real sockets, no worker)."""
import socket
import struct
import threading
import time

from snakepit_bridge import messages as pb
from snakepit_bridge.framesocket import FrameSocket

HEADER = struct.Struct(">I")


def frame(cid: int) -> bytes:
    body = pb.ClientFrame(pings=[cid]).SerializeToString()
    return HEADER.pack(len(body)) + body


def pair(window_s: float):
    ours, node = socket.socketpair()
    fs = FrameSocket(ours, 1 << 20)
    fs.idle_poll_s = window_s
    return fs, node


def test_frames_that_come_within_the_window_are_read_by_polling_whole_and_in_order():
    fs, node = pair(0.05)
    try:
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
    finally:
        fs.sock.close()
        node.close()


def test_after_a_gap_longer_than_the_window_the_reader_sleeps_instead_of_polling():
    fs, node = pair(0.01)
    try:
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
    finally:
        fs.sock.close()
        node.close()


def test_without_a_window_the_reader_never_polls():
    fs, node = pair(0.0)
    try:
        for seq in range(1, 4):
            node.sendall(frame(seq))
            assert list(fs.next_frame().pings) == [seq]
            assert not fs._poll_pays
    finally:
        fs.sock.close()
        node.close()


def test_a_peer_that_closes_while_the_reader_polls_ends_the_read():
    fs, node = pair(0.5)
    try:
        node.sendall(frame(1))
        fs.next_frame()
        fs._poll_pays = True
        threading.Timer(0.05, node.close).start()
        assert fs.next_frame() is None
    finally:
        fs.sock.close()
