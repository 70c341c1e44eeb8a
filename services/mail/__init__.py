"""The mail side of HoneySpam: what `smtp-relay` and `smtp-sink` share.

- dialect: sendmail's replies, as text;
- paths: MAIL/RCPT/HELO arguments, read as sendmail reads them;
- scan: bare LF, NUL and SMTP-smuggling sequences in the raw input;
- session: one SMTP session, aiosmtpd's engine speaking that dialect;
- message, store: what is kept, and the durable Maildir it goes into;
- delivery: which probes are really delivered, and how;
- handoff: how the open proxy passes a connection on to the relay;
- service: the Service base of both, with the options they share;
- tls: the self-signed certificate for STARTTLS.
"""
