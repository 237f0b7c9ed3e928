# Fonts, with fontconfig configuration links.
FROM debian:bookworm
RUN apt-get update && apt-get install -y fonts-dejavu-core
