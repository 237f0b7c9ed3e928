# Thousands of modules, hard links, dpkg diversions and alternatives.
FROM debian:bookworm
RUN apt-get update && apt-get install -y perl
