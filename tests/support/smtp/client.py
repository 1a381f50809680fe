"""An SMTP client on Python's smtplib, for plb's tests (run by /usr/bin/python3).

argv[1] is a JSON object:
  host, port            where to connect
  source                local address to bind (e.g. "127.0.0.2"), optional
  ehlo                  EHLO name (default "client.test")
  starttls              do STARTTLS after EHLO (bool); cafile: CA to trust;
                        the EHLO reply before it is kept as "ehloPlain"
  ssl                   implicit TLS from the first byte (SMTP_SSL, port 465 style;
                        the chain is checked against cafile, not the name)
  mailFrom, rcptTos     envelope
  dataFile              path of the message bytes (CRLF line ends; smtplib
                        dot-stuffs and turns bare CR/LF into CRLF)
  count                 send the message this many times in the session (1)
  quit                  end with QUIT (default true) or just close
  timeout               seconds (default 10)
Prints one JSON line: {"ok", "greeting": [code, text], "ehlo": [code, text],
"replies": [[code, text], ...] (one per message: the DATA reply), "quit":
[code, text] | null, "error": str | null, "greetingMs": ms from the connect
to the greeting (without the interpreter's start), when one came}.
"""

import json
import smtplib
import ssl
import sys
import time


def main():
    o = json.loads(sys.argv[1])
    out = {"ok": False, "greeting": None, "ehlo": None, "replies": [], "quit": None, "error": None}
    s = None
    try:
        source = (o["source"], 0) if o.get("source") else None
        if o.get("ssl"):
            ctx = ssl.create_default_context(cafile=o.get("cafile"))
            ctx.check_hostname = False
            s = smtplib.SMTP_SSL(timeout=o.get("timeout", 10), source_address=source, context=ctx)
            s._host = o.get("tls_name", "localhost")  # the SNI name sent
        else:
            s = smtplib.SMTP(timeout=o.get("timeout", 10), source_address=source)
        t0 = time.monotonic()
        code, msg = s.connect(o.get("host", "127.0.0.1"), o["port"])
        out["greetingMs"] = round((time.monotonic() - t0) * 1000)
        s._host = o.get("tls_name", "localhost")  # for STARTTLS certificate checks
        out["greeting"] = [code, msg.decode("utf-8", "replace")]
        if code != 220:
            raise smtplib.SMTPConnectError(code, msg)
        code, msg = s.ehlo(o.get("ehlo", "client.test"))
        out["ehlo"] = [code, msg.decode("utf-8", "replace")]
        if o.get("ssl"):
            out["cipher"] = s.sock.cipher()[0]
        if o.get("starttls"):
            out["ehloPlain"] = out["ehlo"]
            ctx = ssl.create_default_context(cafile=o.get("cafile"))
            code, msg = s.starttls(context=ctx)
            out["starttls"] = [code, msg.decode("utf-8", "replace")]
            code, msg = s.ehlo(o.get("ehlo", "client.test"))
            out["ehlo"] = [code, msg.decode("utf-8", "replace")]
            out["cipher"] = s.sock.cipher()[0]
        data = b""
        if o.get("dataFile"):
            with open(o["dataFile"], "rb") as f:
                data = f.read()
        for _ in range(o.get("count", 1)):
            code, msg = s.mail(o.get("mailFrom", "sender@client.test"))
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, msg, o.get("mailFrom"))
            for r in o.get("rcptTos", ["rcpt@server.test"]):
                code, msg = s.rcpt(r)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({r: (code, msg)})
            code, msg = s.data(data)
            out["replies"].append([code, msg.decode("utf-8", "replace")])
            if code != 250:
                raise smtplib.SMTPDataError(code, msg)
        if o.get("quit", True):
            code, msg = s.docmd("QUIT")
            out["quit"] = [code, msg.decode("utf-8", "replace")]
        out["ok"] = True
    except Exception as e:  # reported, not raised: the test decides
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if s is not None:
            try:
                s.close()
            except Exception:
                pass
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
