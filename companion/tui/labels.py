"""Words the UI shows in more than one place."""

BUILTIN_ENGINE = "built-in reflector"
PRIVACY_NOTE = "offline · stored on this device"
