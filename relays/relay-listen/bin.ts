#!/usr/bin/env node
import { runStandalone } from '../../shared/run-standalone.js'
import { findRelay } from '../index.js'
import { main } from './main.js'

void runStandalone((argv, io) => main(argv, io, findRelay), process.argv.slice(2))
