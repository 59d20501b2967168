"""Process supervisor for machines without systemd: `make up` starts the
five hangu processes through it, `make down` stops them."""
