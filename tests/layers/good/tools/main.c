#include "sim/sim.h"
#include "tools/platform/platform.h"
