"""Devices through a RabbitMQ cluster's MQTT plugin (3.10+), the portal as its HTTP auth backend.

- auth.py: the endpoints RabbitMQ's rabbitmq_auth_backend_http calls (user, vhost, resource, topic);
- topology.py: the exchanges, queues and bindings that carry device messages to the bridges;
- bridge.py: `manage.py run_rabbitmq_bridge`, consuming device messages and connection events, publishing
  replies; commands from the portal go out through management.py (the management API).

Deployment and the capacity model: docs/rabbitmq.md.
"""
