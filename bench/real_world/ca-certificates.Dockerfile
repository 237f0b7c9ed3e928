# Non-ASCII file names (NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem) and a
# forest of symbolic links in /etc/ssl/certs, made by update-ca-certificates.
FROM debian:bookworm
RUN apt-get update && apt-get install -y ca-certificates
