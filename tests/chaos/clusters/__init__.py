"""Real clusters on loopback for the failover drills: Redis Sentinel, PostgreSQL, RabbitMQ."""
