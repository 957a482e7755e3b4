#!/usr/bin/env python3
"""Peak memory of `idv serve` under concurrent maximum-size uploads (issue 14, docs/BENCHMARKS.md).

Starts the given idv binary on a fresh SQLite database in a temporary folder (default settings), enrols a
subject (obama.jpg / obama2.jpg, confirmed by a reviewer when referred), opens 8 invigilation sessions, then sends at once:
  * 8 frames of exactly the image limit (20 MiB: obama.jpg followed by padding after its end marker, so
    each decodes as the real photo), one per session;
  * 8 requests declaring 85 MiB bodies to the same route (past its limit: refused from Content-Length);
  * 8 bodies of 85 MiB sent chunked, without a length (refused once 20 MiB have arrived).
It samples the server's VmRSS every 20 ms and prints the baseline, the peak and each answer's status.

    python3 scripts/frame_upload_rss.py [--frames-only] [target/debug/idv]   # IDV_RSS_LOG=FILE keeps the log

Stdlib only; talks to 127.0.0.1 only; every step bounded in time.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
FRAME_BYTES = 20 * MIB
OVERSIZE_BYTES = 85 * MIB
UPLOADS = 8


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def request(host, port, method, path, key, body=b"", content_type="application/json", timeout=60):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    except (ConnectionError, http.client.HTTPException) as e:
        return type(e).__name__, None
    finally:
        conn.close()


def declared_only(host, port, path, key, length):
    """A request that declares `length` bytes and sends none: what the server does before reading."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Type", "image/jpeg")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        r = conn.getresponse()
        body = json.loads(r.read() or b"null")
        return r.status, (body or {}).get("code")
    finally:
        conn.close()


def chunked(host, port, path, key, length):
    """`length` bytes sent chunked (no Content-Length): the server must count them as they arrive."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    piece = b"\0" * MIB

    def pieces():
        for _ in range(length // MIB):
            yield piece

    try:
        conn.request("POST", path, body=pieces(), encode_chunked=True,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"})
        r = conn.getresponse()
        body = json.loads(r.read() or b"null")
        return r.status, (body or {}).get("code")
    except (ConnectionError, http.client.HTTPException) as e:
        # Refused mid-body: the server answered and closed while we were still sending.
        return "closed mid-body", type(e).__name__
    finally:
        conn.close()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    frames_only = "--frames-only" in sys.argv
    idv = os.path.abspath(args[0] if args else os.path.join(ROOT, "target/debug/idv"))
    tmp = tempfile.mkdtemp(prefix="idv-rss-")
    db = f"sqlite://{tmp}/idv.db"
    # The default configuration: every model loaded, the document OCR models too.
    env = {k: v for k, v in os.environ.items() if k != "IDV_CONFIG"}
    def new_key(role):
        return subprocess.run(
            [idv, "keys", "create", "--org", "rss", "--role", role, "--database", db],
            check=True, capture_output=True, text=True, env=env, timeout=60,
        ).stdout.strip().splitlines()[-1]

    key = new_key("submitter")
    reviewer = new_key("reviewer")
    server = subprocess.Popen(
        [idv, "serve", "--listen", "127.0.0.1:0", "--database", db],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        stderr=open(os.environ["IDV_RSS_LOG"], "w") if os.environ.get("IDV_RSS_LOG") else subprocess.DEVNULL,
    )
    try:
        base = server.stdout.readline().strip().removeprefix("idv listening on http://")
        host, port = base.rsplit(":", 1)
        port = int(port)

        def consent(purpose):
            status, v = request(host, port, "POST", "/v1/consents", key, json.dumps({
                "subject_ref": "rss-1", "purpose": purpose,
                "lawful_basis": "explicit_consent", "notice_version": "1"}).encode())
            assert status == 201, (status, v)
            return v["consent_ref"]

        enrol = consent("ecs_application")
        boundary = "rssboundary"
        parts = []
        for name, value in [("subject_ref", "rss-1"), ("consent_ref", enrol), ("purpose", "ecs_application")]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, file in [("document", "obama.jpg"), ("selfie", "obama2.jpg")]:
            with open(os.path.join(ROOT, "testdata/face_recognition", file), "rb") as f:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file}"\r\n'
                             f'Content-Type: image/jpeg\r\n\r\n'.encode() + f.read() + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        status, v = request(host, port, "POST", "/v1/verifications", key, b"".join(parts),
                            f"multipart/form-data; boundary={boundary}", timeout=120)
        assert status == 200, (status, v)
        if v["decision"] == "referred":  # a reviewer confirms the enrolment
            status, r = request(host, port, "POST", f"/v1/reviews/{v['review_case_id']}/resolution", reviewer,
                                json.dumps({"outcome": "confirmed_match", "reason": "same person"}).encode())
            assert status == 200, (status, r)
        watch = consent("remote_invigilation")
        sessions = []
        for _ in range(UPLOADS):
            status, s = request(host, port, "POST", "/v1/invigilation/sessions", key, json.dumps({
                "subject_ref": "rss-1", "consent_ref": watch,
                "reference_verification_id": v["id"]}).encode())
            assert status == 201, (status, s)
            sessions.append(s["id"])

        with open(os.path.join(ROOT, "testdata/face_recognition/obama.jpg"), "rb") as f:
            photo = f.read()
        frame = photo + b"\0" * (FRAME_BYTES - len(photo))
        time.sleep(1)
        baseline = rss_kib(server.pid)
        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.02)

        results = []

        def frame_upload(session):
            results.append(("frame 20 MiB", request(host, port, "POST",
                            f"/v1/invigilation/sessions/{session}/frames", key, frame, "image/jpeg",
                            timeout=120)[0]))

        def oversize(session):
            results.append(("declared 85 MiB", declared_only(
                host, port, f"/v1/invigilation/sessions/{session}/frames", key, OVERSIZE_BYTES)))

        def streamed(session):
            results.append(("chunked 85 MiB", chunked(
                host, port, f"/v1/invigilation/sessions/{session}/frames", key, OVERSIZE_BYTES)))

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.time()
        threads = [threading.Thread(target=frame_upload, args=(s,)) for s in sessions]
        if not frames_only:
            threads += [threading.Thread(target=oversize, args=(s,)) for s in sessions]
            threads += [threading.Thread(target=streamed, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        elapsed = time.time() - started
        time.sleep(0.5)
        done.set()
        sampler.join()
        hwm = rss_kib(server.pid, "VmHWM")
        print(f"binary: {idv}")
        print(f"at once: {UPLOADS} frames of {FRAME_BYTES // MIB} MiB" + ("" if frames_only else
              f", {UPLOADS} bodies declaring {OVERSIZE_BYTES // MIB} MiB, {UPLOADS} chunked bodies of "
              f"{OVERSIZE_BYTES // MIB} MiB") + f"; {elapsed:.1f} s")
        for what, status in sorted(results, key=str):
            print(f"  {what}: {status}")
        print(f"RSS before: {baseline / 1024:.0f} MB; peak sampled: {peak[0] / 1024:.0f} MB; "
              f"VmHWM (whole life): {hwm / 1024:.0f} MB")
        return 0 if hwm < 800 * 1024 else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
