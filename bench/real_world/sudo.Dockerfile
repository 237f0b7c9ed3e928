# Setuid root binaries (/usr/bin/sudo 04755), a 0440 /etc/sudoers, 0750 directories.
FROM debian:bookworm
RUN apt-get update && apt-get install -y sudo
