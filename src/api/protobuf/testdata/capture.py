#!/usr/bin/env python3
"""Records the request bodies kubectl sends, for the golden protobuf fixtures here.

    openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
    python3 capture.py 16443 out/ [discovery-dir/] &
    # kubeconfig: server https://127.0.0.1:16443, insecure-skip-tls-verify: true, any token
    kubectl create deployment web --image=nginx --replicas=3 --port=80
    kubectl create deployment web --image=nginx --replicas=3 --port=80 --dry-run=client -o json

Every POST body is written to out/<n>.body (answered 400, so kubectl stops there). Commands
that need discovery first (create role, autoscale) need discovery-dir/ with the JSON of
/api, /apis and each /apis/<group>/<version> from a running server (file name: the path with
"/" replaced by "_", plus ".json"); `autoscale` also GETs the deployment, answered from
discovery-dir/deployment.json. Listens on 127.0.0.1 only.
"""
import http.server
import os
import ssl
import sys

PORT, OUT = int(sys.argv[1]), sys.argv[2]
DISCOVERY = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        name = "deployment" if "/deployments/" in path else path.replace("/", "_")
        f = os.path.join(DISCOVERY or "", name + ".json")
        if DISCOVERY and os.path.exists(f):
            return self.answer(200, open(f, "rb").read())
        self.answer(404, b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        n = len([f for f in os.listdir(OUT) if f.endswith(".body")])
        with open(os.path.join(OUT, f"{n:03d}.body"), "wb") as f:
            f.write(body)
        print(n, self.path, self.headers.get("content-type"), flush=True)
        self.answer(400, b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"captured","reason":"BadRequest","code":400}')

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("cert.pem", "key.pem")
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
