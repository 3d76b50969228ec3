"""The gateway request pipeline: route -> authenticate -> verify -> parse -> service -> sign."""
