#!/usr/bin/env python3
"""A smart-HTTP git server for the push tests: git http-backend behind HTTP basic auth.

Usage: git-http-server.py ROOT USER:PASSWORD PORTFILE
Serves the repositories under ROOT on 127.0.0.1 (a free port, written to PORTFILE once it
listens) to a client that sends USER:PASSWORD, as a Git host does for a token in the URL;
anyone else gets 401. Every request is logged to stderr with its user and status.
"""
import base64
import http.server
import os
import subprocess
import sys

ROOT, CREDENTIALS, PORTFILE = sys.argv[1:4]
BACKEND = os.path.join(
    subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip(),
    "git-http-backend")
EXPECTED = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def serve(self):
        data = self.body() if self.command == "POST" else b""
        if self.headers.get("Authorization") != EXPECTED:
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"")
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(data)), REMOTE_USER=CREDENTIALS.split(":")[0],
                   REMOTE_ADDR="127.0.0.1")
        out = subprocess.run([BACKEND], input=data, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.reply(status, headers, payload)

    do_GET = serve
    do_POST = serve

    def log_message(self, fmt, *args):
        sys.stderr.write("git-http-server: " + fmt % args + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
