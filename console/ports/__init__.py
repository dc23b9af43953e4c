"""SMTP port probes of 25, 465 and 587: plain async Python over aiosmtplib."""
