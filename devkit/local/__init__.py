"""Run the stack's functions locally the way FC would: template-driven, event bytes in."""
