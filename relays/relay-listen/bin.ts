#!/usr/bin/env node
import { runStandalone } from '../../shared/run-standalone.js'
import { main } from './main.js'

void runStandalone(main, process.argv.slice(2))
