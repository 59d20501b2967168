"""One module per Docker API area, each a ROUTES table plus thin handlers
(the shape of moby's daemon/server/router/<area>)."""
