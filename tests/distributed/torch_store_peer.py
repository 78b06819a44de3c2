"""PyTorch's own TCPStore as the other side of the interop tests (torch_interop_test.cpp).

  python torch_store_peer.py server   host a torch TCPStore, print PORT=<n>, then check what our client did
  python torch_store_peer.py client P connect torch's client to our TcpStoreServer on port P and exercise it
Prints TORCH-OK at the end; any assertion failure exits non-zero with a traceback.
"""
import datetime
import sys
import threading

import torch.distributed as dist

TIMEOUT = datetime.timedelta(seconds=20)


def server():
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=TIMEOUT, wait_for_workers=False)
    store.set("from_torch", "hello")
    print(f"PORT={store.port}", flush=True)
    store.wait(["from_shardlm"])  # our client sets it
    assert store.get("from_shardlm") == b"world\x00bytes", store.get("from_shardlm")
    assert store.get("counter") == b"12", store.get("counter")  # our client added 5 then 7
    assert store.get("cas") == b"new", store.get("cas")
    store.set("torch_done", "1")
    store.wait(["shardlm_done"])
    print("TORCH-OK", flush=True)


def client(port):
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT)
    assert store.get("from_shardlm") == b"seeded by shardlm", store.get("from_shardlm")
    store.set("k", "v")
    assert store.get("k") == b"v"
    assert store.add("n", 3) == 3
    assert store.add("n", -10) == -7
    assert store.get("n") == b"-7"
    assert store.check(["k", "n"])
    assert not store.check(["k", "missing"])
    assert store.compare_set("c", "", "first") == b"first"
    assert store.compare_set("c", "zzz", "second") == b"first"
    assert store.compare_set("c", "first", "second") == b"second"
    store.multi_set(["m1", "m2"], ["a", "b"])
    assert store.multi_get(["m2", "m1"]) == [b"b", b"a"]
    store.append("m1", "cd")
    assert store.get("m1") == b"acd"
    assert store.delete_key("m2")
    assert not store.delete_key("m2")
    before = store.num_keys()
    store.set("extra", "1")
    assert store.num_keys() == before + 1
    try:
        store.wait(["never"], datetime.timedelta(milliseconds=300))
        raise AssertionError("wait on a missing key returned")
    except dist.DistStoreError:
        pass
    store.set("after_timeout", "ok")  # the stream is still in step after CANCEL_WAIT
    assert store.get("after_timeout") == b"ok"
    if hasattr(store, "queue_push"):
        store.queue_push("q", "item1")
        store.queue_push("q", "item2")
        assert store.queue_len("q") == 2
        assert store.queue_pop("q") == b"item1"
    if hasattr(store, "list_keys"):
        assert "k" in store.list_keys()
    if hasattr(store, "barrier"):
        store.barrier("solo", 1)
        other = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT)
        done = []
        t = threading.Thread(target=lambda: (other.barrier("pair", 2), done.append(1)))
        t.start()
        store.barrier("pair", 2)
        t.join(10)
        assert done == [1]
        # A blocking pop parks until another client pushes.
        popped = []
        t = threading.Thread(target=lambda: popped.append(other.queue_pop("later")))
        t.start()
        store.queue_push("later", "x")
        t.join(10)
        assert popped == [b"x"], popped
    store.set("torch_done", "1")  # our side waits for this
    print("TORCH-OK", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    else:
        client(int(sys.argv[2]))
