# Byte-compiled modules (__pycache__/*.pyc, written by py3compile in postinst).
FROM debian:bookworm
RUN apt-get update && apt-get install -y python3
