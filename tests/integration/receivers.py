"""Local receivers for notifications: an HTTP server and an SMTP server on loopback, started by tests."""
import json
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port


class Receiver:
    """HTTP receiver on loopback: records every request; Jira's issue endpoint answers like Jira."""

    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8")})
                if self.path.startswith("/broken"):
                    status, answer = 500, {"error": "receiver is broken"}
                elif self.path.startswith("/jira/rest/api/2/issue"):
                    status, answer = 201, {"id": "10001", "key": "OPS-7", "self": "http://127.0.0.1/jira/rest/api/2/issue/10001"}
                else:
                    status, answer = 200, {"ok": True}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def posts(self, prefix):
        return [r for r in self.requests if r["path"].startswith(prefix)]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"
