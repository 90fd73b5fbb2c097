"""Devices through a RabbitMQ cluster's MQTT plugin (3.10+), the portal as its HTTP auth backend.

- auth.py: the endpoints RabbitMQ's rabbitmq_auth_backend_http calls (user, vhost, resource, topic), served
  past the middleware stack by handler.py;
- topology.py: the exchanges, queues and bindings that carry device messages to the bridges;
- bridge.py: `manage.py run_rabbitmq_bridge`, consuming device messages and connection events, publishing
  replies; commands from the portal go out through management.py (the management API); downlinks.py binds
  a device's downlinks to its connection's own subscription queue (the EnOS SDK never subscribes to them).

Deployment and the capacity model: docs/rabbitmq.md.
"""
