/* umbrella */
#include "sim/time.h"
#include "sim/log.h"
