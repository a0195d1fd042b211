/* umbrella */
#include "sim/log.h"
#include "sim/time.h"
