"""The apply stage: carry out a plan against the live systems, in dependency order, safely."""
