#!/usr/bin/env node
console.log('gpuslice: under construction');
