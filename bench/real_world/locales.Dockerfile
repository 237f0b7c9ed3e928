# A generated binary locale archive (/usr/lib/locale/locale-archive).
FROM debian:bookworm
RUN apt-get update && apt-get install -y locales && \
    sed -i "s/^# *\(en_US.UTF-8 UTF-8\)/\1/" /etc/locale.gen && locale-gen
ENV LANG=en_US.UTF-8
