#include "tools/platform/platform.h"
#include "sim/sim.h"
