#!/usr/bin/env python3
"""Regenerates the real-client fixtures in this directory (run by hand, offline).

Each fixture is the exact bytes of one HTTP request an AWS client sent to a
capturing server on 127.0.0.1, signed with the test credential below:
  botocore-*.http  botocore's ECS client (boto3/botocore in this Python)
  awscli1-*.http   `aws` v1 from PATH, if present
  awscli2-*.http   Debian's /usr/bin/aws (AWS CLI v2), if present
The Go tests replay them through http.ReadRequest and the verifier with the
clock set to the request's X-Amz-Date.

    python3 testdata/capture.py
"""
import json, os, shutil, socket, subprocess, sys, threading

AKID = "BKIAFIXTURE2345ABCDE"
SECRET = "fixtureSecretKey/0123456789+abcdefghijklm"
REGION = "us-east-1"
HERE = os.path.dirname(os.path.abspath(__file__))


class Capture:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            out = b'{"clusterArns":[],"cluster":{"clusterName":"demo"}}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(out) + out)
            conn.close()


def save(name, raw):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(raw)
    print("wrote", name, file=sys.stderr)


def main():
    cap = Capture()
    url = "http://127.0.0.1:%d" % cap.port

    import botocore.session
    s = botocore.session.get_session()
    c = s.create_client("ecs", region_name=REGION, endpoint_url=url,
                        aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    c.list_clusters()
    save("botocore-ListClusters.http", cap.requests.pop())
    c.create_cluster(clusterName="demo", tags=[{"key": "team", "value": "caf\u00e9 & co"}])
    save("botocore-CreateCluster.http", cap.requests.pop())

    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    for prefix, exe in (("awscli1", shutil.which("aws")), ("awscli2", "/usr/bin/aws")):
        if not exe or not os.path.exists(exe):
            continue
        if prefix == "awscli1" and os.path.realpath(exe) == "/usr/bin/aws":
            continue
        subprocess.run([exe, "ecs", "list-clusters", "--endpoint-url", url], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        save(prefix + "-ListClusters.http", cap.requests.pop())
        subprocess.run([exe, "ecs", "describe-clusters", "--clusters", "demo", "other",
                        "--endpoint-url", url], env=env, check=True, stdout=subprocess.DEVNULL)
        save(prefix + "-DescribeClusters.http", cap.requests.pop())

    json.dump({"accessKeyId": AKID, "secretAccessKey": SECRET, "region": REGION},
              open(os.path.join(HERE, "fixture-credential.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
