"""How bytes reach the device protocol: the device websocket, the portal's MQTT broker, an EMQX cluster."""
