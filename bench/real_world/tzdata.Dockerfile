# Thousands of small files, hard and symbolic links, debconf questions.
FROM debian:bookworm
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tzdata
