"""Hyperparameter validation for every public constructor: optimizers, building
blocks, schedules and the PyTorch/Keras flavors. Each row is one invalid value and
the exact ``ValueError`` message, which names the constructor, the argument (as the
caller spelled it, also when a flavor's check runs in the core block it wraps), the
valid range and the value."""

from __future__ import annotations

import inspect
import math

import pytest

import optzoo
import optzoo.keras.schedules
import optzoo.pytorch.lr_scheduler
from optzoo import keras, pytorch, schedules, transforms
from optzoo import registry
from optzoo.schedules import registry as schedule_table

NAN = float("nan")


def LAMBDA(epoch):  # a valid lr_lambda for LambdaLR / MultiplicativeLR
    return 0.9


MODULES = {
    "optzoo": optzoo,
    "T": transforms,
    "P": pytorch,
    "K": keras,
    "L": optzoo.pytorch.lr_scheduler,
    "KS": optzoo.keras.schedules,
}


def _build(expr: str, kwargs: dict):
    prefix, name = expr.split(".", 1)
    if prefix == "S":
        if name in schedule_table.SCHEDULES:
            info = schedule_table.SCHEDULES[name]
            return info.fn(**{**info.example_kwargs, **kwargs})
        return getattr(schedules, name)(**kwargs)
    return getattr(MODULES[prefix], name)(**kwargs)


ROWS = [
    ('T.clip_by_global_norm', {'max_norm': -1.0}, 'clip_by_global_norm: max_norm must be in (0, inf), got -1.0'),
    ('T.clip_by_global_norm', {'max_norm': NAN}, 'clip_by_global_norm: max_norm must be in (0, inf), got nan'),
    ('T.clip_by_norm', {'max_norm': -1.0}, 'clip_by_norm: max_norm must be in (0, inf), got -1.0'),
    ('T.clip_by_norm', {'max_norm': NAN}, 'clip_by_norm: max_norm must be in (0, inf), got nan'),
    ('T.clip_by_value', {'max_delta': -1.0}, 'clip_by_value: max_delta must be in [0, inf), got -1.0'),
    ('T.clip_by_value', {'max_delta': NAN}, 'clip_by_value: max_delta must be in [0, inf), got nan'),
    ('T.scale_by_adadelta', {'rho': -1.0}, 'scale_by_adadelta: rho must be in [0, 1], got -1.0'),
    ('T.scale_by_adadelta', {'rho': NAN}, 'scale_by_adadelta: rho must be in [0, 1], got nan'),
    ('T.scale_by_adadelta', {'eps': -1.0}, 'scale_by_adadelta: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_adadelta', {'eps': NAN}, 'scale_by_adadelta: eps must be in [0, inf), got nan'),
    ('T.scale_by_adam', {'b1': -1.0}, 'scale_by_adam: b1 must be in [0, 1), got -1.0'),
    ('T.scale_by_adam', {'b1': NAN}, 'scale_by_adam: b1 must be in [0, 1), got nan'),
    ('T.scale_by_adam', {'b2': -1.0}, 'scale_by_adam: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_adam', {'b2': NAN}, 'scale_by_adam: b2 must be in [0, 1), got nan'),
    ('T.scale_by_adam', {'eps': -1.0}, 'scale_by_adam: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_adam', {'eps': NAN}, 'scale_by_adam: eps must be in [0, inf), got nan'),
    ('T.scale_by_adam', {'eps_root': -1.0}, 'scale_by_adam: eps_root must be in [0, inf), got -1.0'),
    ('T.scale_by_adam', {'eps_root': NAN}, 'scale_by_adam: eps_root must be in [0, inf), got nan'),
    ('T.scale_by_adamax', {'b1': -1.0}, 'scale_by_adamax: b1 must be in [0, 1), got -1.0'),
    ('T.scale_by_adamax', {'b1': NAN}, 'scale_by_adamax: b1 must be in [0, 1), got nan'),
    ('T.scale_by_adamax', {'b2': -1.0}, 'scale_by_adamax: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_adamax', {'b2': NAN}, 'scale_by_adamax: b2 must be in [0, 1), got nan'),
    ('T.scale_by_adamax', {'eps': -1.0}, 'scale_by_adamax: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_adamax', {'eps': NAN}, 'scale_by_adamax: eps must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'learning_rate': -1.0}, 'scale_by_ftrl: learning_rate must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'learning_rate': NAN}, 'scale_by_ftrl: learning_rate must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'learning_rate_power': NAN}, 'scale_by_ftrl: learning_rate_power must be in (-inf, 0], got nan'),
    ('T.scale_by_ftrl', {'initial_accumulator_value': -1.0}, 'scale_by_ftrl: initial_accumulator_value must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'initial_accumulator_value': NAN}, 'scale_by_ftrl: initial_accumulator_value must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'l1_regularization_strength': -1.0}, 'scale_by_ftrl: l1_regularization_strength must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'l1_regularization_strength': NAN}, 'scale_by_ftrl: l1_regularization_strength must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'l2_regularization_strength': -1.0}, 'scale_by_ftrl: l2_regularization_strength must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'l2_regularization_strength': NAN}, 'scale_by_ftrl: l2_regularization_strength must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'l2_shrinkage_regularization_strength': -1.0}, 'scale_by_ftrl: l2_shrinkage_regularization_strength must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'l2_shrinkage_regularization_strength': NAN}, 'scale_by_ftrl: l2_shrinkage_regularization_strength must be in [0, inf), got nan'),
    ('T.scale_by_ftrl', {'beta': -1.0}, 'scale_by_ftrl: beta must be in [0, inf), got -1.0'),
    ('T.scale_by_ftrl', {'beta': NAN}, 'scale_by_ftrl: beta must be in [0, inf), got nan'),
    ('T.scale_by_nadam', {'b1': -1.0}, 'scale_by_nadam: b1 must be in [0, 1), got -1.0'),
    ('T.scale_by_nadam', {'b1': NAN}, 'scale_by_nadam: b1 must be in [0, 1), got nan'),
    ('T.scale_by_nadam', {'b2': -1.0}, 'scale_by_nadam: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_nadam', {'b2': NAN}, 'scale_by_nadam: b2 must be in [0, 1), got nan'),
    ('T.scale_by_nadam', {'eps': -1.0}, 'scale_by_nadam: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_nadam', {'eps': NAN}, 'scale_by_nadam: eps must be in [0, inf), got nan'),
    ('T.scale_by_nadam', {'eps_root': -1.0}, 'scale_by_nadam: eps_root must be in [0, inf), got -1.0'),
    ('T.scale_by_nadam', {'eps_root': NAN}, 'scale_by_nadam: eps_root must be in [0, inf), got nan'),
    ('T.scale_by_nadam', {'momentum_decay': -1.0}, 'scale_by_nadam: momentum_decay must be in [0, inf), got -1.0'),
    ('T.scale_by_nadam', {'momentum_decay': NAN}, 'scale_by_nadam: momentum_decay must be in [0, inf), got nan'),
    ('T.scale_by_radam', {'b1': -1.0}, 'scale_by_radam: b1 must be in [0, 1), got -1.0'),
    ('T.scale_by_radam', {'b1': NAN}, 'scale_by_radam: b1 must be in [0, 1), got nan'),
    ('T.scale_by_radam', {'b2': -1.0}, 'scale_by_radam: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_radam', {'b2': NAN}, 'scale_by_radam: b2 must be in [0, 1), got nan'),
    ('T.scale_by_radam', {'eps': -1.0}, 'scale_by_radam: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_radam', {'eps': NAN}, 'scale_by_radam: eps must be in [0, inf), got nan'),
    ('T.scale_by_radam', {'eps_root': -1.0}, 'scale_by_radam: eps_root must be in [0, inf), got -1.0'),
    ('T.scale_by_radam', {'eps_root': NAN}, 'scale_by_radam: eps_root must be in [0, inf), got nan'),
    ('T.scale_by_radam', {'threshold': -1.0}, 'scale_by_radam: threshold must be in [4, inf), got -1.0'),
    ('T.scale_by_radam', {'threshold': NAN}, 'scale_by_radam: threshold must be in [4, inf), got nan'),
    ('T.scale_by_rms', {'decay': -1.0}, 'scale_by_rms: decay must be in [0, 1], got -1.0'),
    ('T.scale_by_rms', {'decay': NAN}, 'scale_by_rms: decay must be in [0, 1], got nan'),
    ('T.scale_by_rms', {'eps': -1.0}, 'scale_by_rms: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_rms', {'eps': NAN}, 'scale_by_rms: eps must be in [0, inf), got nan'),
    ('T.scale_by_rms', {'initial_scale': -1.0}, 'scale_by_rms: initial_scale must be in [0, inf), got -1.0'),
    ('T.scale_by_rms', {'initial_scale': NAN}, 'scale_by_rms: initial_scale must be in [0, inf), got nan'),
    ('T.scale_by_rss', {'initial_accumulator_value': -1.0}, 'scale_by_rss: initial_accumulator_value must be in [0, inf), got -1.0'),
    ('T.scale_by_rss', {'initial_accumulator_value': NAN}, 'scale_by_rss: initial_accumulator_value must be in [0, inf), got nan'),
    ('T.scale_by_rss', {'eps': -1.0}, 'scale_by_rss: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_rss', {'eps': NAN}, 'scale_by_rss: eps must be in [0, inf), got nan'),
    ('T.scale_by_trace', {'decay': -1.0}, 'scale_by_trace: decay must be in [0, 1], got -1.0'),
    ('T.scale_by_trace', {'decay': NAN}, 'scale_by_trace: decay must be in [0, 1], got nan'),
    ('T.scale_by_trace', {'dampening': -1.0}, 'scale_by_trace: dampening must be in [0, 1], got -1.0'),
    ('T.scale_by_trace', {'dampening': NAN}, 'scale_by_trace: dampening must be in [0, 1], got nan'),
    ('T.scale_by_adafactor', {'learning_rate': -1.0}, 'scale_by_adafactor: learning_rate must be in [0, inf), got -1.0'),
    ('T.scale_by_adafactor', {'learning_rate': NAN}, 'scale_by_adafactor: learning_rate must be in [0, inf), got nan'),
    ('T.scale_by_adafactor', {'beta2_decay': NAN}, 'scale_by_adafactor: beta2_decay must be in (-inf, 0], got nan'),
    ('T.scale_by_adafactor', {'eps1': -1.0}, 'scale_by_adafactor: eps1 must be in [0, inf), got -1.0'),
    ('T.scale_by_adafactor', {'eps1': NAN}, 'scale_by_adafactor: eps1 must be in [0, inf), got nan'),
    ('T.scale_by_adafactor', {'eps2': -1.0}, 'scale_by_adafactor: eps2 must be in [0, inf), got -1.0'),
    ('T.scale_by_adafactor', {'eps2': NAN}, 'scale_by_adafactor: eps2 must be in [0, inf), got nan'),
    ('T.scale_by_adafactor', {'clip_threshold': -1.0}, 'scale_by_adafactor: clip_threshold must be in (0, inf), got -1.0'),
    ('T.scale_by_adafactor', {'clip_threshold': NAN}, 'scale_by_adafactor: clip_threshold must be in (0, inf), got nan'),
    ('T.scale_by_adafactor', {'clip_threshold': 0.0}, 'scale_by_adafactor: clip_threshold must be in (0, inf), got 0.0'),
    # Keras accepts a threshold below 1; torch's d and the paper's keep d >= 1.
    ('K.Adafactor', {'clip_threshold': 0.0}, 'Adafactor: clip_threshold must be in (0, inf), got 0.0'),
    ('P.Adafactor', {'d': 0.8}, 'Adafactor: d must be in [1, inf), got 0.8'),
    ('optzoo.adafactor', {'clip_threshold': 0.8}, 'adafactor: clip_threshold must be in [1, inf), got 0.8'),
    # FTRL divides by the learning rate (Keras's weights turn NaN at 0).
    ('T.scale_by_ftrl', {'learning_rate': 0.0}, 'scale_by_ftrl: learning_rate must be in (0, inf), got 0.0'),
    ('K.Ftrl', {'learning_rate': 0}, 'Ftrl: learning_rate must be in (0, inf), got 0'),
    ('T.scale_by_adafactor', {'weight_decay': -1.0}, 'scale_by_adafactor: weight_decay must be in [0, inf), got -1.0'),
    ('T.scale_by_adafactor', {'weight_decay': NAN}, 'scale_by_adafactor: weight_decay must be in [0, inf), got nan'),
    ('T.scale_by_adafactor', {'min_dim_size_to_factor': -1}, 'scale_by_adafactor: min_dim_size_to_factor must be in [0, inf), got -1'),
    ('T.scale_by_asgd', {'learning_rate': -1.0}, 'scale_by_asgd: learning_rate must be in [0, inf), got -1.0'),
    ('T.scale_by_asgd', {'learning_rate': NAN}, 'scale_by_asgd: learning_rate must be in [0, inf), got nan'),
    ('T.scale_by_asgd', {'lambd': -1.0}, 'scale_by_asgd: lambd must be in [0, inf), got -1.0'),
    ('T.scale_by_asgd', {'lambd': NAN}, 'scale_by_asgd: lambd must be in [0, inf), got nan'),
    ('T.scale_by_asgd', {'alpha': -1.0}, 'scale_by_asgd: alpha must be in [0, inf), got -1.0'),
    ('T.scale_by_asgd', {'alpha': NAN}, 'scale_by_asgd: alpha must be in [0, inf), got nan'),
    ('T.scale_by_asgd', {'t0': -1.0}, 'scale_by_asgd: t0 must be in [0, inf), got -1.0'),
    ('T.scale_by_asgd', {'t0': NAN}, 'scale_by_asgd: t0 must be in [0, inf), got nan'),
    ('T.scale_by_asgd', {'weight_decay': -1.0}, 'scale_by_asgd: weight_decay must be in [0, inf), got -1.0'),
    ('T.scale_by_asgd', {'weight_decay': NAN}, 'scale_by_asgd: weight_decay must be in [0, inf), got nan'),
    ('T.scale_by_lion', {'b1': -1.0}, 'scale_by_lion: b1 must be in [0, 1], got -1.0'),
    ('T.scale_by_lion', {'b1': NAN}, 'scale_by_lion: b1 must be in [0, 1], got nan'),
    ('T.scale_by_lion', {'b2': -1.0}, 'scale_by_lion: b2 must be in [0, 1], got -1.0'),
    ('T.scale_by_lion', {'b2': NAN}, 'scale_by_lion: b2 must be in [0, 1], got nan'),
    ('T.scale_by_muon', {'momentum': -1.0}, 'scale_by_muon: momentum must be in [0, 1), got -1.0'),
    ('T.scale_by_muon', {'momentum': NAN}, 'scale_by_muon: momentum must be in [0, 1), got nan'),
    ('T.scale_by_muon', {'ns_steps': -1}, 'scale_by_muon: ns_steps must be in [0, 99], got -1'),
    ('T.scale_by_muon', {'eps': -1.0}, 'scale_by_muon: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_muon', {'eps': NAN}, 'scale_by_muon: eps must be in [0, inf), got nan'),
    ('T.scale_by_muon', {'b2': -1.0}, 'scale_by_muon: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_muon', {'b2': NAN}, 'scale_by_muon: b2 must be in [0, 1), got nan'),
    ('T.scale_by_muon', {'adam_eps': -1.0}, 'scale_by_muon: adam_eps must be in [0, inf), got -1.0'),
    ('T.scale_by_muon', {'adam_eps': NAN}, 'scale_by_muon: adam_eps must be in [0, inf), got nan'),
    ('T.scale_by_rprop', {'learning_rate': -1.0}, 'scale_by_rprop: learning_rate must be in (0, inf), got -1.0'),
    ('T.scale_by_rprop', {'learning_rate': NAN}, 'scale_by_rprop: learning_rate must be in (0, inf), got nan'),
    ('T.scale_by_rprop', {'eta_minus': -1.0}, 'scale_by_rprop: eta_minus must be in (0, 1), got -1.0'),
    ('T.scale_by_rprop', {'eta_minus': NAN}, 'scale_by_rprop: eta_minus must be in (0, 1), got nan'),
    ('T.scale_by_rprop', {'eta_plus': -1.0}, 'scale_by_rprop: eta_plus must be in (1, inf), got -1.0'),
    ('T.scale_by_rprop', {'eta_plus': NAN}, 'scale_by_rprop: eta_plus must be in (1, inf), got nan'),
    ('T.scale_by_rprop', {'min_step_size': -1.0}, 'scale_by_rprop: min_step_size must be in [0, inf), got -1.0'),
    ('T.scale_by_rprop', {'min_step_size': NAN}, 'scale_by_rprop: min_step_size must be in [0, inf), got nan'),
    ('T.scale_by_rprop', {'max_step_size': -1.0}, 'scale_by_rprop: max_step_size must be in [1e-06, inf), got -1.0'),
    ('T.scale_by_rprop', {'max_step_size': NAN}, 'scale_by_rprop: max_step_size must be in [1e-06, inf), got nan'),
    ('T.scale_by_sparse_adam', {'b1': -1.0}, 'scale_by_sparse_adam: b1 must be in [0, 1), got -1.0'),
    ('T.scale_by_sparse_adam', {'b1': NAN}, 'scale_by_sparse_adam: b1 must be in [0, 1), got nan'),
    ('T.scale_by_sparse_adam', {'b2': -1.0}, 'scale_by_sparse_adam: b2 must be in [0, 1), got -1.0'),
    ('T.scale_by_sparse_adam', {'b2': NAN}, 'scale_by_sparse_adam: b2 must be in [0, 1), got nan'),
    ('T.scale_by_sparse_adam', {'eps': -1.0}, 'scale_by_sparse_adam: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_sparse_adam', {'eps': NAN}, 'scale_by_sparse_adam: eps must be in [0, inf), got nan'),
    ('T.scale_by_sparse_adam', {'eps_root': -1.0}, 'scale_by_sparse_adam: eps_root must be in [0, inf), got -1.0'),
    ('T.scale_by_sparse_adam', {'eps_root': NAN}, 'scale_by_sparse_adam: eps_root must be in [0, inf), got nan'),
    ('T.scale_by_trust_ratio', {'trust_coefficient': -1.0}, 'scale_by_trust_ratio: trust_coefficient must be in (0, inf), got -1.0'),
    ('T.scale_by_trust_ratio', {'trust_coefficient': NAN}, 'scale_by_trust_ratio: trust_coefficient must be in (0, inf), got nan'),
    ('T.scale_by_trust_ratio', {'eps': -1.0}, 'scale_by_trust_ratio: eps must be in [0, inf), got -1.0'),
    ('T.scale_by_trust_ratio', {'eps': NAN}, 'scale_by_trust_ratio: eps must be in [0, inf), got nan'),
    ('T.scale_by_trust_ratio', {'min_norm': -1.0}, 'scale_by_trust_ratio: min_norm must be in [0, inf), got -1.0'),
    ('T.scale_by_trust_ratio', {'min_norm': NAN}, 'scale_by_trust_ratio: min_norm must be in [0, inf), got nan'),
    ('T.scale_by_angd', {'eps': -1.0}, 'scale_by_angd: eps must be in (0, 1), got -1.0'),
    ('T.scale_by_angd', {'eps': NAN}, 'scale_by_angd: eps must be in (0, 1), got nan'),
    ('T.scale_by_angd', {'max_full_size': -1}, 'scale_by_angd: max_full_size must be in [0, inf), got -1'),
    ('T.scale_by_angd', {'init_scale': -1.0}, 'scale_by_angd: init_scale must be in (0, inf), got -1.0'),
    ('T.scale_by_angd', {'init_scale': NAN}, 'scale_by_angd: init_scale must be in (0, inf), got nan'),
    ('T.scale_by_lbfgs', {'memory_size': -1}, 'scale_by_lbfgs: memory_size must be in [1, inf), got -1'),
    ('T.scale_by_newton', {'damping': -1.0}, 'scale_by_newton: damping must be in [0, inf), got -1.0'),
    ('T.scale_by_newton', {'damping': NAN}, 'scale_by_newton: damping must be in [0, inf), got nan'),
    ('T.scale_by_newton_cg', {'damping': -1.0}, 'scale_by_newton_cg: damping must be in [0, inf), got -1.0'),
    ('T.scale_by_newton_cg', {'damping': NAN}, 'scale_by_newton_cg: damping must be in [0, inf), got nan'),
    ('T.scale_by_newton_cg', {'max_cg_iters': -1}, 'scale_by_newton_cg: max_cg_iters must be in [1, inf), got -1'),
    ('T.scale_by_newton_cg', {'cg_tol': -1.0}, 'scale_by_newton_cg: cg_tol must be in [0, inf), got -1.0'),
    ('T.scale_by_newton_cg', {'cg_tol': NAN}, 'scale_by_newton_cg: cg_tol must be in [0, inf), got nan'),
    ('S.constant', {'value': -1.0}, 'constant: value must be in [0, inf), got -1.0'),
    ('S.constant', {'value': NAN}, 'constant: value must be in [0, inf), got nan'),
    ('S.step_decay', {'init_value': -1.0}, 'step_decay: init_value must be in [0, inf), got -1.0'),
    ('S.step_decay', {'init_value': NAN}, 'step_decay: init_value must be in [0, inf), got nan'),
    ('S.step_decay', {'decay_rate': -1.0}, 'step_decay: decay_rate must be in [0, 1], got -1.0'),
    ('S.step_decay', {'decay_rate': NAN}, 'step_decay: decay_rate must be in [0, 1], got nan'),
    ('S.step_decay', {'decay_steps': -1}, 'step_decay: decay_steps must be in (0, inf), got -1'),
    ('S.multistep_decay', {'init_value': -1.0}, 'multistep_decay: init_value must be in [0, inf), got -1.0'),
    ('S.multistep_decay', {'init_value': NAN}, 'multistep_decay: init_value must be in [0, inf), got nan'),
    ('S.multistep_decay', {'decay_rate': -1.0}, 'multistep_decay: decay_rate must be in [0, 1], got -1.0'),
    ('S.multistep_decay', {'decay_rate': NAN}, 'multistep_decay: decay_rate must be in [0, 1], got nan'),
    ('S.exponential_decay', {'init_value': -1.0}, 'exponential_decay: init_value must be in [0, inf), got -1.0'),
    ('S.exponential_decay', {'init_value': NAN}, 'exponential_decay: init_value must be in [0, inf), got nan'),
    ('S.exponential_decay', {'decay_rate': -1.0}, 'exponential_decay: decay_rate must be in (0, 1], got -1.0'),
    ('S.exponential_decay', {'decay_rate': NAN}, 'exponential_decay: decay_rate must be in (0, 1], got nan'),
    ('S.exponential_decay', {'decay_steps': -1}, 'exponential_decay: decay_steps must be in (0, inf), got -1'),
    ('S.natural_exp_decay', {'init_value': -1.0}, 'natural_exp_decay: init_value must be in [0, inf), got -1.0'),
    ('S.natural_exp_decay', {'init_value': NAN}, 'natural_exp_decay: init_value must be in [0, inf), got nan'),
    ('S.natural_exp_decay', {'decay_rate': -1.0}, 'natural_exp_decay: decay_rate must be in [0, inf), got -1.0'),
    ('S.natural_exp_decay', {'decay_rate': NAN}, 'natural_exp_decay: decay_rate must be in [0, inf), got nan'),
    ('S.natural_exp_decay', {'decay_steps': -1}, 'natural_exp_decay: decay_steps must be in (0, inf), got -1'),
    ('S.inverse_time_decay', {'init_value': -1.0}, 'inverse_time_decay: init_value must be in [0, inf), got -1.0'),
    ('S.inverse_time_decay', {'init_value': NAN}, 'inverse_time_decay: init_value must be in [0, inf), got nan'),
    ('S.inverse_time_decay', {'decay_rate': -1.0}, 'inverse_time_decay: decay_rate must be in [0, inf), got -1.0'),
    ('S.inverse_time_decay', {'decay_rate': NAN}, 'inverse_time_decay: decay_rate must be in [0, inf), got nan'),
    ('S.inverse_time_decay', {'decay_steps': -1}, 'inverse_time_decay: decay_steps must be in (0, inf), got -1'),
    ('S.polynomial_decay', {'init_value': -1.0}, 'polynomial_decay: init_value must be in [0, inf), got -1.0'),
    ('S.polynomial_decay', {'init_value': NAN}, 'polynomial_decay: init_value must be in [0, inf), got nan'),
    ('S.polynomial_decay', {'decay_steps': -1}, 'polynomial_decay: decay_steps must be in (0, inf), got -1'),
    ('S.polynomial_decay', {'end_value': -1.0}, 'polynomial_decay: end_value must be in [0, inf), got -1.0'),
    ('S.polynomial_decay', {'end_value': NAN}, 'polynomial_decay: end_value must be in [0, inf), got nan'),
    ('S.polynomial_decay', {'power': -1.0}, 'polynomial_decay: power must be in (0, inf), got -1.0'),
    ('S.polynomial_decay', {'power': NAN}, 'polynomial_decay: power must be in (0, inf), got nan'),
    ('S.linear', {'init_value': -1.0}, 'linear: init_value must be in [0, inf), got -1.0'),
    ('S.linear', {'init_value': NAN}, 'linear: init_value must be in [0, inf), got nan'),
    ('S.linear', {'end_value': -1.0}, 'linear: end_value must be in [0, inf), got -1.0'),
    ('S.linear', {'end_value': NAN}, 'linear: end_value must be in [0, inf), got nan'),
    ('S.linear', {'transition_steps': -1}, 'linear: transition_steps must be in (0, inf), got -1'),
    ('S.cosine_decay', {'init_value': -1.0}, 'cosine_decay: init_value must be in [0, inf), got -1.0'),
    ('S.cosine_decay', {'init_value': NAN}, 'cosine_decay: init_value must be in [0, inf), got nan'),
    ('S.cosine_decay', {'decay_steps': -1}, 'cosine_decay: decay_steps must be in (0, inf), got -1'),
    ('S.cosine_decay', {'end_value': -1.0}, 'cosine_decay: end_value must be in [0, inf), got -1.0'),
    ('S.cosine_decay', {'end_value': NAN}, 'cosine_decay: end_value must be in [0, inf), got nan'),
    ('S.linear_cosine_decay', {'init_value': -1.0}, 'linear_cosine_decay: init_value must be in [0, inf), got -1.0'),
    ('S.linear_cosine_decay', {'init_value': NAN}, 'linear_cosine_decay: init_value must be in [0, inf), got nan'),
    ('S.linear_cosine_decay', {'decay_steps': -1}, 'linear_cosine_decay: decay_steps must be in (0, inf), got -1'),
    ('S.linear_cosine_decay', {'num_periods': -1.0}, 'linear_cosine_decay: num_periods must be in [0, inf), got -1.0'),
    ('S.linear_cosine_decay', {'num_periods': NAN}, 'linear_cosine_decay: num_periods must be in [0, inf), got nan'),
    ('S.linear_cosine_decay', {'alpha': -1.0}, 'linear_cosine_decay: alpha must be in [0, inf), got -1.0'),
    ('S.linear_cosine_decay', {'alpha': NAN}, 'linear_cosine_decay: alpha must be in [0, inf), got nan'),
    ('S.linear_cosine_decay', {'beta': -1.0}, 'linear_cosine_decay: beta must be in [0, inf), got -1.0'),
    ('S.linear_cosine_decay', {'beta': NAN}, 'linear_cosine_decay: beta must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'init_value': -1.0}, 'noisy_linear_cosine_decay: init_value must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'init_value': NAN}, 'noisy_linear_cosine_decay: init_value must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'decay_steps': -1}, 'noisy_linear_cosine_decay: decay_steps must be in (0, inf), got -1'),
    ('S.noisy_linear_cosine_decay', {'initial_variance': -1.0}, 'noisy_linear_cosine_decay: initial_variance must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'initial_variance': NAN}, 'noisy_linear_cosine_decay: initial_variance must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'variance_decay': -1.0}, 'noisy_linear_cosine_decay: variance_decay must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'variance_decay': NAN}, 'noisy_linear_cosine_decay: variance_decay must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'num_periods': -1.0}, 'noisy_linear_cosine_decay: num_periods must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'num_periods': NAN}, 'noisy_linear_cosine_decay: num_periods must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'alpha': -1.0}, 'noisy_linear_cosine_decay: alpha must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'alpha': NAN}, 'noisy_linear_cosine_decay: alpha must be in [0, inf), got nan'),
    ('S.noisy_linear_cosine_decay', {'beta': -1.0}, 'noisy_linear_cosine_decay: beta must be in [0, inf), got -1.0'),
    ('S.noisy_linear_cosine_decay', {'beta': NAN}, 'noisy_linear_cosine_decay: beta must be in [0, inf), got nan'),
    ('S.cosine_restarts', {'init_value': -1.0}, 'cosine_restarts: init_value must be in [0, inf), got -1.0'),
    ('S.cosine_restarts', {'init_value': NAN}, 'cosine_restarts: init_value must be in [0, inf), got nan'),
    ('S.cosine_restarts', {'first_decay_steps': -1}, 'cosine_restarts: first_decay_steps must be in (0, inf), got -1'),
    ('S.cosine_restarts', {'t_mul': -1.0}, 'cosine_restarts: t_mul must be in [1, inf), got -1.0'),
    ('S.cosine_restarts', {'t_mul': NAN}, 'cosine_restarts: t_mul must be in [1, inf), got nan'),
    ('S.cosine_restarts', {'m_mul': -1.0}, 'cosine_restarts: m_mul must be in [0, 1], got -1.0'),
    ('S.cosine_restarts', {'m_mul': NAN}, 'cosine_restarts: m_mul must be in [0, 1], got nan'),
    ('S.cosine_restarts', {'alpha': -1.0}, 'cosine_restarts: alpha must be in [0, 1], got -1.0'),
    ('S.cosine_restarts', {'alpha': NAN}, 'cosine_restarts: alpha must be in [0, 1], got nan'),
    ('S.cyclic', {'base_value': -1.0}, 'cyclic: base_value must be in [0, inf), got -1.0'),
    ('S.cyclic', {'base_value': NAN}, 'cyclic: base_value must be in [0, inf), got nan'),
    ('S.cyclic', {'max_value': -1.0}, 'cyclic: max_value must be in [0, inf), got -1.0'),
    ('S.cyclic', {'max_value': NAN}, 'cyclic: max_value must be in [0, inf), got nan'),
    ('S.cyclic', {'step_size_up': -1}, 'cyclic: step_size_up must be in [1, inf), got -1'),
    ('S.cyclic', {'gamma': -1.0}, 'cyclic: gamma must be in (0, 1], got -1.0'),
    ('S.cyclic', {'gamma': NAN}, 'cyclic: gamma must be in (0, 1], got nan'),
    ('S.one_cycle', {'max_value': -1.0}, 'one_cycle: max_value must be in [0, inf), got -1.0'),
    ('S.one_cycle', {'max_value': NAN}, 'one_cycle: max_value must be in [0, inf), got nan'),
    ('S.one_cycle', {'total_steps': -1}, 'one_cycle: total_steps must be in [2, inf), got -1'),
    ('S.one_cycle', {'pct_start': -1.0}, 'one_cycle: pct_start must be in (0.001, 1), got -1.0'),
    ('S.one_cycle', {'pct_start': NAN}, 'one_cycle: pct_start must be in (0.001, 1), got nan'),
    ('S.one_cycle', {'div_factor': -1.0}, 'one_cycle: div_factor must be in (0, inf), got -1.0'),
    ('S.one_cycle', {'div_factor': NAN}, 'one_cycle: div_factor must be in (0, inf), got nan'),
    ('S.one_cycle', {'final_div_factor': -1.0}, 'one_cycle: final_div_factor must be in (0, inf), got -1.0'),
    ('S.one_cycle', {'final_div_factor': NAN}, 'one_cycle: final_div_factor must be in (0, inf), got nan'),
    ('S.warmup', {'warmup_steps': -1}, 'warmup: warmup_steps must be in [0, inf), got -1'),
    ('S.warmup', {'init_value': -1.0}, 'warmup: init_value must be in [0, inf), got -1.0'),
    ('S.warmup', {'init_value': NAN}, 'warmup: init_value must be in [0, inf), got nan'),
    ('S.reduce_on_plateau', {'factor': -1.0}, 'reduce_on_plateau: factor must be in (0, 1), got -1.0'),
    ('S.reduce_on_plateau', {'factor': NAN}, 'reduce_on_plateau: factor must be in (0, 1), got nan'),
    ('S.reduce_on_plateau', {'patience': -1}, 'reduce_on_plateau: patience must be in [0, inf), got -1'),
    ('S.reduce_on_plateau', {'threshold': -1.0}, 'reduce_on_plateau: threshold must be in [0, inf), got -1.0'),
    ('S.reduce_on_plateau', {'threshold': NAN}, 'reduce_on_plateau: threshold must be in [0, inf), got nan'),
    ('S.reduce_on_plateau', {'cooldown': -1}, 'reduce_on_plateau: cooldown must be in [0, inf), got -1'),
    ('S.reduce_on_plateau', {'min_scale': -1.0}, 'reduce_on_plateau: min_scale must be in [0, 1], got -1.0'),
    ('S.reduce_on_plateau', {'min_scale': NAN}, 'reduce_on_plateau: min_scale must be in [0, 1], got nan'),
    ('P.ASGD', {'lr': -1.0}, 'ASGD: lr must be in [0, inf), got -1.0'),
    ('P.ASGD', {'lr': NAN}, 'ASGD: lr must be in [0, inf), got nan'),
    ('P.ASGD', {'lambd': -1.0}, 'ASGD: lambd must be in [0, inf), got -1.0'),
    ('P.ASGD', {'lambd': NAN}, 'ASGD: lambd must be in [0, inf), got nan'),
    ('P.ASGD', {'alpha': -1.0}, 'ASGD: alpha must be in [0, inf), got -1.0'),
    ('P.ASGD', {'alpha': NAN}, 'ASGD: alpha must be in [0, inf), got nan'),
    ('P.ASGD', {'t0': -1.0}, 'ASGD: t0 must be in [0, inf), got -1.0'),
    ('P.ASGD', {'t0': NAN}, 'ASGD: t0 must be in [0, inf), got nan'),
    ('P.ASGD', {'weight_decay': -1.0}, 'ASGD: weight_decay must be in [0, inf), got -1.0'),
    ('P.ASGD', {'weight_decay': NAN}, 'ASGD: weight_decay must be in [0, inf), got nan'),
    ('P.Adafactor', {'lr': -1.0}, 'Adafactor: lr must be in [0, inf), got -1.0'),
    ('P.Adafactor', {'lr': NAN}, 'Adafactor: lr must be in [0, inf), got nan'),
    ('P.Adafactor', {'beta2_decay': NAN}, 'Adafactor: beta2_decay must be in (-inf, 0], got nan'),
    ('P.Adafactor', {'d': -1.0}, 'Adafactor: d must be in [1, inf), got -1.0'),
    ('P.Adafactor', {'d': NAN}, 'Adafactor: d must be in [1, inf), got nan'),
    ('P.Adafactor', {'weight_decay': -1.0}, 'Adafactor: weight_decay must be in [0, inf), got -1.0'),
    ('P.Adafactor', {'weight_decay': NAN}, 'Adafactor: weight_decay must be in [0, inf), got nan'),
    ('P.Muon', {'lr': -1.0}, 'Muon: lr must be in [0, inf), got -1.0'),
    ('P.Muon', {'lr': NAN}, 'Muon: lr must be in [0, inf), got nan'),
    ('P.Muon', {'weight_decay': -1.0}, 'Muon: weight_decay must be in [0, inf), got -1.0'),
    ('P.Muon', {'weight_decay': NAN}, 'Muon: weight_decay must be in [0, inf), got nan'),
    ('P.Muon', {'momentum': -1.0}, 'Muon: momentum must be in [0, 1), got -1.0'),
    ('P.Muon', {'momentum': NAN}, 'Muon: momentum must be in [0, 1), got nan'),
    ('P.Muon', {'eps': -1.0}, 'Muon: eps must be in [0, inf), got -1.0'),
    ('P.Muon', {'eps': NAN}, 'Muon: eps must be in [0, inf), got nan'),
    ('P.Muon', {'ns_steps': -1}, 'Muon: ns_steps must be in [0, 99], got -1'),
    ('P.Rprop', {'lr': -1.0}, 'Rprop: lr must be in (0, inf), got -1.0'),
    ('P.Rprop', {'lr': NAN}, 'Rprop: lr must be in (0, inf), got nan'),
    ('P.SparseAdam', {'lr': -1.0}, 'SparseAdam: lr must be in [0, inf), got -1.0'),
    ('P.SparseAdam', {'lr': NAN}, 'SparseAdam: lr must be in [0, inf), got nan'),
    ('P.SparseAdam', {'eps': -1.0}, 'SparseAdam: eps must be in [0, inf), got -1.0'),
    ('P.SparseAdam', {'eps': NAN}, 'SparseAdam: eps must be in [0, inf), got nan'),
    ('P.SGD', {'lr': -1.0}, 'SGD: lr must be in [0, inf), got -1.0'),
    ('P.SGD', {'lr': NAN}, 'SGD: lr must be in [0, inf), got nan'),
    ('P.SGD', {'momentum': -1.0}, 'SGD: momentum must be in [0, inf), got -1.0'),
    ('P.SGD', {'momentum': NAN}, 'SGD: momentum must be in [0, inf), got nan'),
    ('P.SGD', {'weight_decay': -1.0}, 'SGD: weight_decay must be in [0, inf), got -1.0'),
    ('P.SGD', {'weight_decay': NAN}, 'SGD: weight_decay must be in [0, inf), got nan'),
    ('P.Adadelta', {'lr': -1.0}, 'Adadelta: lr must be in [0, inf), got -1.0'),
    ('P.Adadelta', {'lr': NAN}, 'Adadelta: lr must be in [0, inf), got nan'),
    ('P.Adadelta', {'rho': -1.0}, 'Adadelta: rho must be in [0, 1], got -1.0'),
    ('P.Adadelta', {'rho': NAN}, 'Adadelta: rho must be in [0, 1], got nan'),
    ('P.Adadelta', {'eps': -1.0}, 'Adadelta: eps must be in [0, inf), got -1.0'),
    ('P.Adadelta', {'eps': NAN}, 'Adadelta: eps must be in [0, inf), got nan'),
    ('P.Adadelta', {'weight_decay': -1.0}, 'Adadelta: weight_decay must be in [0, inf), got -1.0'),
    ('P.Adadelta', {'weight_decay': NAN}, 'Adadelta: weight_decay must be in [0, inf), got nan'),
    ('P.Adagrad', {'lr': -1.0}, 'Adagrad: lr must be in [0, inf), got -1.0'),
    ('P.Adagrad', {'lr': NAN}, 'Adagrad: lr must be in [0, inf), got nan'),
    ('P.Adagrad', {'lr_decay': -1.0}, 'Adagrad: lr_decay must be in [0, inf), got -1.0'),
    ('P.Adagrad', {'lr_decay': NAN}, 'Adagrad: lr_decay must be in [0, inf), got nan'),
    ('P.Adagrad', {'weight_decay': -1.0}, 'Adagrad: weight_decay must be in [0, inf), got -1.0'),
    ('P.Adagrad', {'weight_decay': NAN}, 'Adagrad: weight_decay must be in [0, inf), got nan'),
    ('P.Adagrad', {'initial_accumulator_value': -1.0}, 'Adagrad: initial_accumulator_value must be in [0, inf), got -1.0'),
    ('P.Adagrad', {'initial_accumulator_value': NAN}, 'Adagrad: initial_accumulator_value must be in [0, inf), got nan'),
    ('P.Adagrad', {'eps': -1.0}, 'Adagrad: eps must be in [0, inf), got -1.0'),
    ('P.Adagrad', {'eps': NAN}, 'Adagrad: eps must be in [0, inf), got nan'),
    ('P.Adam', {'lr': -1.0}, 'Adam: lr must be in [0, inf), got -1.0'),
    ('P.Adam', {'lr': NAN}, 'Adam: lr must be in [0, inf), got nan'),
    ('P.Adam', {'eps': -1.0}, 'Adam: eps must be in [0, inf), got -1.0'),
    ('P.Adam', {'eps': NAN}, 'Adam: eps must be in [0, inf), got nan'),
    ('P.Adam', {'weight_decay': -1.0}, 'Adam: weight_decay must be in [0, inf), got -1.0'),
    ('P.Adam', {'weight_decay': NAN}, 'Adam: weight_decay must be in [0, inf), got nan'),
    ('P.Adamax', {'lr': -1.0}, 'Adamax: lr must be in [0, inf), got -1.0'),
    ('P.Adamax', {'lr': NAN}, 'Adamax: lr must be in [0, inf), got nan'),
    ('P.Adamax', {'eps': -1.0}, 'Adamax: eps must be in [0, inf), got -1.0'),
    ('P.Adamax', {'eps': NAN}, 'Adamax: eps must be in [0, inf), got nan'),
    ('P.Adamax', {'weight_decay': -1.0}, 'Adamax: weight_decay must be in [0, inf), got -1.0'),
    ('P.Adamax', {'weight_decay': NAN}, 'Adamax: weight_decay must be in [0, inf), got nan'),
    ('P.AdamW', {'lr': -1.0}, 'AdamW: lr must be in [0, inf), got -1.0'),
    ('P.AdamW', {'lr': NAN}, 'AdamW: lr must be in [0, inf), got nan'),
    ('P.AdamW', {'eps': -1.0}, 'AdamW: eps must be in [0, inf), got -1.0'),
    ('P.AdamW', {'eps': NAN}, 'AdamW: eps must be in [0, inf), got nan'),
    ('P.AdamW', {'weight_decay': -1.0}, 'AdamW: weight_decay must be in [0, inf), got -1.0'),
    ('P.AdamW', {'weight_decay': NAN}, 'AdamW: weight_decay must be in [0, inf), got nan'),
    ('P.ClipGradNorm', {'max_norm': -1.0}, 'ClipGradNorm: max_norm must be in [0, inf), got -1.0'),
    ('P.ClipGradNorm', {'max_norm': NAN}, 'ClipGradNorm: max_norm must be in [0, inf), got nan'),
    ('P.ClipGradValue', {'clip_value': NAN}, 'ClipGradValue: clip_value must be in (-inf, inf), got nan'),
    ('P.LBFGS', {'lr': -1.0}, 'LBFGS: lr must be in [0, inf), got -1.0'),
    ('P.LBFGS', {'lr': NAN}, 'LBFGS: lr must be in [0, inf), got nan'),
    ('P.LBFGS', {'max_iter': -1}, 'LBFGS: max_iter must be in [1, inf), got -1'),
    ('P.LBFGS', {'tolerance_grad': -1.0}, 'LBFGS: tolerance_grad must be in [0, inf), got -1.0'),
    ('P.LBFGS', {'tolerance_grad': NAN}, 'LBFGS: tolerance_grad must be in [0, inf), got nan'),
    ('P.LBFGS', {'tolerance_change': -1.0}, 'LBFGS: tolerance_change must be in [0, inf), got -1.0'),
    ('P.LBFGS', {'tolerance_change': NAN}, 'LBFGS: tolerance_change must be in [0, inf), got nan'),
    ('P.LBFGS', {'history_size': -1}, 'LBFGS: history_size must be in [1, inf), got -1'),
    ('P.NAdam', {'lr': -1.0}, 'NAdam: lr must be in [0, inf), got -1.0'),
    ('P.NAdam', {'lr': NAN}, 'NAdam: lr must be in [0, inf), got nan'),
    ('P.NAdam', {'eps': -1.0}, 'NAdam: eps must be in [0, inf), got -1.0'),
    ('P.NAdam', {'eps': NAN}, 'NAdam: eps must be in [0, inf), got nan'),
    ('P.NAdam', {'weight_decay': -1.0}, 'NAdam: weight_decay must be in [0, inf), got -1.0'),
    ('P.NAdam', {'weight_decay': NAN}, 'NAdam: weight_decay must be in [0, inf), got nan'),
    ('P.NAdam', {'momentum_decay': -1.0}, 'NAdam: momentum_decay must be in [0, inf), got -1.0'),
    ('P.NAdam', {'momentum_decay': NAN}, 'NAdam: momentum_decay must be in [0, inf), got nan'),
    ('P.RAdam', {'lr': -1.0}, 'RAdam: lr must be in [0, inf), got -1.0'),
    ('P.RAdam', {'lr': NAN}, 'RAdam: lr must be in [0, inf), got nan'),
    ('P.RAdam', {'eps': -1.0}, 'RAdam: eps must be in [0, inf), got -1.0'),
    ('P.RAdam', {'eps': NAN}, 'RAdam: eps must be in [0, inf), got nan'),
    ('P.RAdam', {'weight_decay': -1.0}, 'RAdam: weight_decay must be in [0, inf), got -1.0'),
    ('P.RAdam', {'weight_decay': NAN}, 'RAdam: weight_decay must be in [0, inf), got nan'),
    ('P.RMSprop', {'lr': -1.0}, 'RMSprop: lr must be in [0, inf), got -1.0'),
    ('P.RMSprop', {'lr': NAN}, 'RMSprop: lr must be in [0, inf), got nan'),
    ('P.RMSprop', {'alpha': -1.0}, 'RMSprop: alpha must be in [0, 1], got -1.0'),
    ('P.RMSprop', {'alpha': NAN}, 'RMSprop: alpha must be in [0, 1], got nan'),
    ('P.RMSprop', {'eps': -1.0}, 'RMSprop: eps must be in [0, inf), got -1.0'),
    ('P.RMSprop', {'eps': NAN}, 'RMSprop: eps must be in [0, inf), got nan'),
    ('P.RMSprop', {'weight_decay': -1.0}, 'RMSprop: weight_decay must be in [0, inf), got -1.0'),
    ('P.RMSprop', {'weight_decay': NAN}, 'RMSprop: weight_decay must be in [0, inf), got nan'),
    ('P.RMSprop', {'momentum': -1.0}, 'RMSprop: momentum must be in [0, inf), got -1.0'),
    ('P.RMSprop', {'momentum': NAN}, 'RMSprop: momentum must be in [0, inf), got nan'),
    ('K.SGD', {'learning_rate': -1.0}, 'SGD: learning_rate must be in [0, inf), got -1.0'),
    ('K.SGD', {'learning_rate': NAN}, 'SGD: learning_rate must be in [0, inf), got nan'),
    ('K.SGD', {'momentum': -1.0}, 'SGD: momentum must be in [0, 1], got -1.0'),
    ('K.SGD', {'momentum': NAN}, 'SGD: momentum must be in [0, 1], got nan'),
    ('K.SGD', {'ema_momentum': -1.0}, 'SGD: ema_momentum must be in [0, 1], got -1.0'),
    ('K.SGD', {'ema_momentum': NAN}, 'SGD: ema_momentum must be in [0, 1], got nan'),
    ('K.Adadelta', {'learning_rate': -1.0}, 'Adadelta: learning_rate must be in [0, inf), got -1.0'),
    ('K.Adadelta', {'learning_rate': NAN}, 'Adadelta: learning_rate must be in [0, inf), got nan'),
    ('K.Adadelta', {'rho': -1.0}, 'Adadelta: rho must be in [0, 1], got -1.0'),
    ('K.Adadelta', {'rho': NAN}, 'Adadelta: rho must be in [0, 1], got nan'),
    ('K.Adadelta', {'epsilon': -1.0}, 'Adadelta: epsilon must be in [0, inf), got -1.0'),
    ('K.Adadelta', {'epsilon': NAN}, 'Adadelta: epsilon must be in [0, inf), got nan'),
    ('K.Adadelta', {'ema_momentum': -1.0}, 'Adadelta: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Adadelta', {'ema_momentum': NAN}, 'Adadelta: ema_momentum must be in [0, 1], got nan'),
    ('K.Adafactor', {'learning_rate': -1.0}, 'Adafactor: learning_rate must be in [0, inf), got -1.0'),
    ('K.Adafactor', {'learning_rate': NAN}, 'Adafactor: learning_rate must be in [0, inf), got nan'),
    ('K.Adafactor', {'beta_2_decay': NAN}, 'Adafactor: beta_2_decay must be in (-inf, 0], got nan'),
    ('K.Adafactor', {'epsilon_1': -1.0}, 'Adafactor: epsilon_1 must be in [0, inf), got -1.0'),
    ('K.Adafactor', {'epsilon_1': NAN}, 'Adafactor: epsilon_1 must be in [0, inf), got nan'),
    ('K.Adafactor', {'epsilon_2': -1.0}, 'Adafactor: epsilon_2 must be in [0, inf), got -1.0'),
    ('K.Adafactor', {'epsilon_2': NAN}, 'Adafactor: epsilon_2 must be in [0, inf), got nan'),
    ('K.Adafactor', {'clip_threshold': -1.0}, 'Adafactor: clip_threshold must be in (0, inf), got -1.0'),
    ('K.Adafactor', {'clip_threshold': NAN}, 'Adafactor: clip_threshold must be in (0, inf), got nan'),
    ('K.Adafactor', {'ema_momentum': -1.0}, 'Adafactor: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Adafactor', {'ema_momentum': NAN}, 'Adafactor: ema_momentum must be in [0, 1], got nan'),
    ('K.Adagrad', {'learning_rate': -1.0}, 'Adagrad: learning_rate must be in [0, inf), got -1.0'),
    ('K.Adagrad', {'learning_rate': NAN}, 'Adagrad: learning_rate must be in [0, inf), got nan'),
    ('K.Adagrad', {'initial_accumulator_value': -1.0}, 'Adagrad: initial_accumulator_value must be in [0, inf), got -1.0'),
    ('K.Adagrad', {'initial_accumulator_value': NAN}, 'Adagrad: initial_accumulator_value must be in [0, inf), got nan'),
    ('K.Adagrad', {'epsilon': -1.0}, 'Adagrad: epsilon must be in [0, inf), got -1.0'),
    ('K.Adagrad', {'epsilon': NAN}, 'Adagrad: epsilon must be in [0, inf), got nan'),
    ('K.Adagrad', {'ema_momentum': -1.0}, 'Adagrad: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Adagrad', {'ema_momentum': NAN}, 'Adagrad: ema_momentum must be in [0, 1], got nan'),
    ('K.Adam', {'learning_rate': -1.0}, 'Adam: learning_rate must be in [0, inf), got -1.0'),
    ('K.Adam', {'learning_rate': NAN}, 'Adam: learning_rate must be in [0, inf), got nan'),
    ('K.Adam', {'beta_1': -1.0}, 'Adam: beta_1 must be in [0, 1), got -1.0'),
    ('K.Adam', {'beta_1': NAN}, 'Adam: beta_1 must be in [0, 1), got nan'),
    ('K.Adam', {'beta_2': -1.0}, 'Adam: beta_2 must be in [0, 1), got -1.0'),
    ('K.Adam', {'beta_2': NAN}, 'Adam: beta_2 must be in [0, 1), got nan'),
    ('K.Adam', {'epsilon': -1.0}, 'Adam: epsilon must be in [0, inf), got -1.0'),
    ('K.Adam', {'epsilon': NAN}, 'Adam: epsilon must be in [0, inf), got nan'),
    ('K.Adam', {'ema_momentum': -1.0}, 'Adam: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Adam', {'ema_momentum': NAN}, 'Adam: ema_momentum must be in [0, 1], got nan'),
    ('K.AdamW', {'learning_rate': -1.0}, 'AdamW: learning_rate must be in [0, inf), got -1.0'),
    ('K.AdamW', {'learning_rate': NAN}, 'AdamW: learning_rate must be in [0, inf), got nan'),
    ('K.AdamW', {'weight_decay': -1.0}, 'AdamW: weight_decay must be in [0, inf), got -1.0'),
    ('K.AdamW', {'weight_decay': NAN}, 'AdamW: weight_decay must be in [0, inf), got nan'),
    ('K.AdamW', {'beta_1': -1.0}, 'AdamW: beta_1 must be in [0, 1), got -1.0'),
    ('K.AdamW', {'beta_1': NAN}, 'AdamW: beta_1 must be in [0, 1), got nan'),
    ('K.AdamW', {'beta_2': -1.0}, 'AdamW: beta_2 must be in [0, 1), got -1.0'),
    ('K.AdamW', {'beta_2': NAN}, 'AdamW: beta_2 must be in [0, 1), got nan'),
    ('K.AdamW', {'epsilon': -1.0}, 'AdamW: epsilon must be in [0, inf), got -1.0'),
    ('K.AdamW', {'epsilon': NAN}, 'AdamW: epsilon must be in [0, inf), got nan'),
    ('K.AdamW', {'ema_momentum': -1.0}, 'AdamW: ema_momentum must be in [0, 1], got -1.0'),
    ('K.AdamW', {'ema_momentum': NAN}, 'AdamW: ema_momentum must be in [0, 1], got nan'),
    ('K.Adamax', {'learning_rate': -1.0}, 'Adamax: learning_rate must be in [0, inf), got -1.0'),
    ('K.Adamax', {'learning_rate': NAN}, 'Adamax: learning_rate must be in [0, inf), got nan'),
    ('K.Adamax', {'beta_1': -1.0}, 'Adamax: beta_1 must be in [0, 1), got -1.0'),
    ('K.Adamax', {'beta_1': NAN}, 'Adamax: beta_1 must be in [0, 1), got nan'),
    ('K.Adamax', {'beta_2': -1.0}, 'Adamax: beta_2 must be in [0, 1), got -1.0'),
    ('K.Adamax', {'beta_2': NAN}, 'Adamax: beta_2 must be in [0, 1), got nan'),
    ('K.Adamax', {'epsilon': -1.0}, 'Adamax: epsilon must be in [0, inf), got -1.0'),
    ('K.Adamax', {'epsilon': NAN}, 'Adamax: epsilon must be in [0, inf), got nan'),
    ('K.Adamax', {'ema_momentum': -1.0}, 'Adamax: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Adamax', {'ema_momentum': NAN}, 'Adamax: ema_momentum must be in [0, 1], got nan'),
    ('K.Ftrl', {'learning_rate': -1.0}, 'Ftrl: learning_rate must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'learning_rate': NAN}, 'Ftrl: learning_rate must be in [0, inf), got nan'),
    ('K.Ftrl', {'learning_rate_power': NAN}, 'Ftrl: learning_rate_power must be in (-inf, 0], got nan'),
    ('K.Ftrl', {'initial_accumulator_value': -1.0}, 'Ftrl: initial_accumulator_value must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'initial_accumulator_value': NAN}, 'Ftrl: initial_accumulator_value must be in [0, inf), got nan'),
    ('K.Ftrl', {'l1_regularization_strength': -1.0}, 'Ftrl: l1_regularization_strength must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'l1_regularization_strength': NAN}, 'Ftrl: l1_regularization_strength must be in [0, inf), got nan'),
    ('K.Ftrl', {'l2_regularization_strength': -1.0}, 'Ftrl: l2_regularization_strength must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'l2_regularization_strength': NAN}, 'Ftrl: l2_regularization_strength must be in [0, inf), got nan'),
    ('K.Ftrl', {'l2_shrinkage_regularization_strength': -1.0}, 'Ftrl: l2_shrinkage_regularization_strength must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'l2_shrinkage_regularization_strength': NAN}, 'Ftrl: l2_shrinkage_regularization_strength must be in [0, inf), got nan'),
    ('K.Ftrl', {'beta': -1.0}, 'Ftrl: beta must be in [0, inf), got -1.0'),
    ('K.Ftrl', {'beta': NAN}, 'Ftrl: beta must be in [0, inf), got nan'),
    ('K.Ftrl', {'ema_momentum': -1.0}, 'Ftrl: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Ftrl', {'ema_momentum': NAN}, 'Ftrl: ema_momentum must be in [0, 1], got nan'),
    ('K.Lamb', {'learning_rate': -1.0}, 'Lamb: learning_rate must be in [0, inf), got -1.0'),
    ('K.Lamb', {'learning_rate': NAN}, 'Lamb: learning_rate must be in [0, inf), got nan'),
    ('K.Lamb', {'beta_1': -1.0}, 'Lamb: beta_1 must be in [0, 1), got -1.0'),
    ('K.Lamb', {'beta_1': NAN}, 'Lamb: beta_1 must be in [0, 1), got nan'),
    ('K.Lamb', {'beta_2': -1.0}, 'Lamb: beta_2 must be in [0, 1), got -1.0'),
    ('K.Lamb', {'beta_2': NAN}, 'Lamb: beta_2 must be in [0, 1), got nan'),
    ('K.Lamb', {'epsilon': -1.0}, 'Lamb: epsilon must be in [0, inf), got -1.0'),
    ('K.Lamb', {'epsilon': NAN}, 'Lamb: epsilon must be in [0, inf), got nan'),
    ('K.Lamb', {'ema_momentum': -1.0}, 'Lamb: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Lamb', {'ema_momentum': NAN}, 'Lamb: ema_momentum must be in [0, 1], got nan'),
    ('K.Lion', {'learning_rate': -1.0}, 'Lion: learning_rate must be in [0, inf), got -1.0'),
    ('K.Lion', {'learning_rate': NAN}, 'Lion: learning_rate must be in [0, inf), got nan'),
    ('K.Lion', {'beta_1': -1.0}, 'Lion: beta_1 must be in (0, 1], got -1.0'),
    ('K.Lion', {'beta_1': NAN}, 'Lion: beta_1 must be in (0, 1], got nan'),
    ('K.Lion', {'beta_2': -1.0}, 'Lion: beta_2 must be in [0, 1], got -1.0'),
    ('K.Lion', {'beta_2': NAN}, 'Lion: beta_2 must be in [0, 1], got nan'),
    ('K.Lion', {'ema_momentum': -1.0}, 'Lion: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Lion', {'ema_momentum': NAN}, 'Lion: ema_momentum must be in [0, 1], got nan'),
    ('K.Nadam', {'learning_rate': -1.0}, 'Nadam: learning_rate must be in [0, inf), got -1.0'),
    ('K.Nadam', {'learning_rate': NAN}, 'Nadam: learning_rate must be in [0, inf), got nan'),
    ('K.Nadam', {'beta_1': -1.0}, 'Nadam: beta_1 must be in [0, 1), got -1.0'),
    ('K.Nadam', {'beta_1': NAN}, 'Nadam: beta_1 must be in [0, 1), got nan'),
    ('K.Nadam', {'beta_2': -1.0}, 'Nadam: beta_2 must be in [0, 1), got -1.0'),
    ('K.Nadam', {'beta_2': NAN}, 'Nadam: beta_2 must be in [0, 1), got nan'),
    ('K.Nadam', {'epsilon': -1.0}, 'Nadam: epsilon must be in [0, inf), got -1.0'),
    ('K.Nadam', {'epsilon': NAN}, 'Nadam: epsilon must be in [0, inf), got nan'),
    ('K.Nadam', {'ema_momentum': -1.0}, 'Nadam: ema_momentum must be in [0, 1], got -1.0'),
    ('K.Nadam', {'ema_momentum': NAN}, 'Nadam: ema_momentum must be in [0, 1], got nan'),
    ('K.RMSprop', {'learning_rate': -1.0}, 'RMSprop: learning_rate must be in [0, inf), got -1.0'),
    ('K.RMSprop', {'learning_rate': NAN}, 'RMSprop: learning_rate must be in [0, inf), got nan'),
    ('K.RMSprop', {'rho': -1.0}, 'RMSprop: rho must be in [0, 1], got -1.0'),
    ('K.RMSprop', {'rho': NAN}, 'RMSprop: rho must be in [0, 1], got nan'),
    ('K.RMSprop', {'momentum': -1.0}, 'RMSprop: momentum must be in [0, 1], got -1.0'),
    ('K.RMSprop', {'momentum': NAN}, 'RMSprop: momentum must be in [0, 1], got nan'),
    ('K.RMSprop', {'epsilon': -1.0}, 'RMSprop: epsilon must be in [0, inf), got -1.0'),
    ('K.RMSprop', {'epsilon': NAN}, 'RMSprop: epsilon must be in [0, inf), got nan'),
    ('K.RMSprop', {'ema_momentum': -1.0}, 'RMSprop: ema_momentum must be in [0, 1], got -1.0'),
    ('K.RMSprop', {'ema_momentum': NAN}, 'RMSprop: ema_momentum must be in [0, 1], got nan'),
    ('L.StepLR', {'step_size': 3, 'lr': -1.0}, 'StepLR: lr must be in [0, inf), got -1.0'),
    ('L.StepLR', {'step_size': 3, 'lr': NAN}, 'StepLR: lr must be in [0, inf), got nan'),
    ('L.StepLR', {'lr': 0.1, 'step_size': -1}, 'StepLR: step_size must be in [1, inf), got -1'),
    ('L.MultiStepLR', {'milestones': [2, 4], 'lr': -1.0}, 'MultiStepLR: lr must be in [0, inf), got -1.0'),
    ('L.MultiStepLR', {'milestones': [2, 4], 'lr': NAN}, 'MultiStepLR: lr must be in [0, inf), got nan'),
    ('L.ConstantLR', {'lr': -1.0}, 'ConstantLR: lr must be in [0, inf), got -1.0'),
    ('L.ConstantLR', {'lr': NAN}, 'ConstantLR: lr must be in [0, inf), got nan'),
    ('L.ConstantLR', {'lr': 0.1, 'factor': -1.0}, 'ConstantLR: factor must be in [0, 1], got -1.0'),
    ('L.ConstantLR', {'lr': 0.1, 'factor': NAN}, 'ConstantLR: factor must be in [0, 1], got nan'),
    ('L.ConstantLR', {'lr': 0.1, 'total_iters': -1}, 'ConstantLR: total_iters must be in [0, inf), got -1'),
    ('L.LinearLR', {'lr': -1.0}, 'LinearLR: lr must be in [0, inf), got -1.0'),
    ('L.LinearLR', {'lr': NAN}, 'LinearLR: lr must be in [0, inf), got nan'),
    ('L.LinearLR', {'lr': 0.1, 'start_factor': -1.0}, 'LinearLR: start_factor must be in (0, 1], got -1.0'),
    ('L.LinearLR', {'lr': 0.1, 'start_factor': NAN}, 'LinearLR: start_factor must be in (0, 1], got nan'),
    ('L.LinearLR', {'lr': 0.1, 'end_factor': -1.0}, 'LinearLR: end_factor must be in [0, 1], got -1.0'),
    ('L.LinearLR', {'lr': 0.1, 'end_factor': NAN}, 'LinearLR: end_factor must be in [0, 1], got nan'),
    ('L.LinearLR', {'lr': 0.1, 'total_iters': -1}, 'LinearLR: total_iters must be in [1, inf), got -1'),
    ('L.ExponentialLR', {'gamma': 0.5, 'lr': -1.0}, 'ExponentialLR: lr must be in [0, inf), got -1.0'),
    ('L.ExponentialLR', {'gamma': 0.5, 'lr': NAN}, 'ExponentialLR: lr must be in [0, inf), got nan'),
    ('L.PolynomialLR', {'lr': -1.0}, 'PolynomialLR: lr must be in [0, inf), got -1.0'),
    ('L.PolynomialLR', {'lr': NAN}, 'PolynomialLR: lr must be in [0, inf), got nan'),
    ('L.PolynomialLR', {'lr': 0.1, 'total_iters': -1}, 'PolynomialLR: total_iters must be in [1, inf), got -1'),
    ('L.CosineAnnealingLR', {'T_max': 10, 'lr': -1.0}, 'CosineAnnealingLR: lr must be in [0, inf), got -1.0'),
    ('L.CosineAnnealingLR', {'T_max': 10, 'lr': NAN}, 'CosineAnnealingLR: lr must be in [0, inf), got nan'),
    ('L.CosineAnnealingLR', {'lr': 0.1, 'T_max': -1}, 'CosineAnnealingLR: T_max must be in [1, inf), got -1'),
    ('L.CosineAnnealingWarmRestarts', {'T_0': 5, 'lr': -1.0}, 'CosineAnnealingWarmRestarts: lr must be in [0, inf), got -1.0'),
    ('L.CosineAnnealingWarmRestarts', {'T_0': 5, 'lr': NAN}, 'CosineAnnealingWarmRestarts: lr must be in [0, inf), got nan'),
    ('L.CosineAnnealingWarmRestarts', {'lr': 0.1, 'T_0': -1}, 'CosineAnnealingWarmRestarts: T_0 must be in [1, inf), got -1'),
    ('L.CosineAnnealingWarmRestarts', {'lr': 0.1, 'T_0': 5, 'T_mult': -1}, 'CosineAnnealingWarmRestarts: T_mult must be in [1, inf), got -1'),
    ('L.CyclicLR', {'max_lr': 0.1, 'base_lr': -1.0}, 'CyclicLR: base_lr must be in [0, inf), got -1.0'),
    ('L.CyclicLR', {'max_lr': 0.1, 'base_lr': NAN}, 'CyclicLR: base_lr must be in [0, inf), got nan'),
    ('L.CyclicLR', {'base_lr': 0.01, 'max_lr': -1.0}, 'CyclicLR: max_lr must be in [0, inf), got -1.0'),
    ('L.CyclicLR', {'base_lr': 0.01, 'max_lr': NAN}, 'CyclicLR: max_lr must be in [0, inf), got nan'),
    ('L.LambdaLR', {'lr_lambda': LAMBDA, 'lr': -1.0}, 'LambdaLR: lr must be in [0, inf), got -1.0'),
    ('L.LambdaLR', {'lr_lambda': LAMBDA, 'lr': NAN}, 'LambdaLR: lr must be in [0, inf), got nan'),
    ('L.MultiplicativeLR', {'lr_lambda': LAMBDA, 'lr': -1.0}, 'MultiplicativeLR: lr must be in [0, inf), got -1.0'),
    ('L.MultiplicativeLR', {'lr_lambda': LAMBDA, 'lr': NAN}, 'MultiplicativeLR: lr must be in [0, inf), got nan'),
    ('KS.ExponentialDecay', {'decay_steps': 10, 'decay_rate': 0.5, 'initial_learning_rate': -1.0}, 'ExponentialDecay: initial_learning_rate must be in [0, inf), got -1.0'),
    ('KS.ExponentialDecay', {'decay_steps': 10, 'decay_rate': 0.5, 'initial_learning_rate': NAN}, 'ExponentialDecay: initial_learning_rate must be in [0, inf), got nan'),
    ('KS.ExponentialDecay', {'initial_learning_rate': 0.1, 'decay_rate': 0.5, 'decay_steps': -1}, 'ExponentialDecay: decay_steps must be in (0, inf), got -1'),
    ('KS.ExponentialDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'decay_rate': -1.0}, 'ExponentialDecay: decay_rate must be in (0, 1], got -1.0'),
    ('KS.ExponentialDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'decay_rate': NAN}, 'ExponentialDecay: decay_rate must be in (0, 1], got nan'),
    ('KS.PolynomialDecay', {'initial_learning_rate': 0.1, 'decay_steps': -1}, 'PolynomialDecay: decay_steps must be in (0, inf), got -1'),
    ('KS.InverseTimeDecay', {'decay_steps': 10, 'decay_rate': 0.5, 'initial_learning_rate': -1.0}, 'InverseTimeDecay: initial_learning_rate must be in [0, inf), got -1.0'),
    ('KS.InverseTimeDecay', {'decay_steps': 10, 'decay_rate': 0.5, 'initial_learning_rate': NAN}, 'InverseTimeDecay: initial_learning_rate must be in [0, inf), got nan'),
    ('KS.InverseTimeDecay', {'initial_learning_rate': 0.1, 'decay_rate': 0.5, 'decay_steps': -1}, 'InverseTimeDecay: decay_steps must be in (0, inf), got -1'),
    ('KS.InverseTimeDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'decay_rate': -1.0}, 'InverseTimeDecay: decay_rate must be in [0, inf), got -1.0'),
    ('KS.InverseTimeDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'decay_rate': NAN}, 'InverseTimeDecay: decay_rate must be in [0, inf), got nan'),
    ('KS.CosineDecay', {'decay_steps': 10, 'initial_learning_rate': -1.0}, 'CosineDecay: initial_learning_rate must be in [0, inf), got -1.0'),
    ('KS.CosineDecay', {'decay_steps': 10, 'initial_learning_rate': NAN}, 'CosineDecay: initial_learning_rate must be in [0, inf), got nan'),
    ('KS.CosineDecay', {'initial_learning_rate': 0.1, 'decay_steps': -1}, 'CosineDecay: decay_steps must be in (0, inf), got -1'),
    ('KS.CosineDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'alpha': -1.0}, 'CosineDecay: alpha must be in [0, 1], got -1.0'),
    ('KS.CosineDecay', {'initial_learning_rate': 0.1, 'decay_steps': 10, 'alpha': NAN}, 'CosineDecay: alpha must be in [0, 1], got nan'),
    ('KS.CosineDecayRestarts', {'first_decay_steps': 10, 'initial_learning_rate': -1.0}, 'CosineDecayRestarts: initial_learning_rate must be in [0, inf), got -1.0'),
    ('KS.CosineDecayRestarts', {'first_decay_steps': 10, 'initial_learning_rate': NAN}, 'CosineDecayRestarts: initial_learning_rate must be in [0, inf), got nan'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': -1}, 'CosineDecayRestarts: first_decay_steps must be in (0, inf), got -1'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 't_mul': -1.0}, 'CosineDecayRestarts: t_mul must be in [1, inf), got -1.0'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 't_mul': NAN}, 'CosineDecayRestarts: t_mul must be in [1, inf), got nan'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 'm_mul': -1.0}, 'CosineDecayRestarts: m_mul must be in [0, 1], got -1.0'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 'm_mul': NAN}, 'CosineDecayRestarts: m_mul must be in [0, 1], got nan'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 'alpha': -1.0}, 'CosineDecayRestarts: alpha must be in [0, 1], got -1.0'),
    ('KS.CosineDecayRestarts', {'initial_learning_rate': 0.1, 'first_decay_steps': 10, 'alpha': NAN}, 'CosineDecayRestarts: alpha must be in [0, 1], got nan'),
]

# Non-numeric arguments and combinations.
ROWS += [
    ("optzoo.sgd", {"learning_rate": 0.1, "nesterov": True},
     "sgd: momentum must be in (0, 1] when nesterov=True, got 0.0"),
    ("optzoo.sgd", {"learning_rate": "fast"},
     "sgd: learning_rate must be a number in [0, inf) or a schedule step -> lr, got 'fast'"),
    ("optzoo.rmsprop", {"centered": 1}, "rmsprop: centered must be a bool, got 1"),
    ("optzoo.adam", {"b1": True}, "adam: b1 must be a real number, got True"),
]


def _interval(text: str) -> tuple[float, float, bool, bool]:
    """``"[0, 1)"`` -> ``(0.0, 1.0, low_open, high_open)``."""
    low, high = (float(x) for x in text[1:-1].split(","))
    return low, high, text[0] == "(", text[-1] == ")"


def registry_rows():
    """Rows probing every range the registry declares: a value below and above each
    finite bound (and -1), the bound itself where it is open, and NaN for real
    arguments."""
    rows = []
    for r in registry.records():
        if not r.ranges:
            continue
        params = inspect.signature(r.constructor).parameters
        required = {k: v for k, v in r.example_kwargs().items()
                    if params[k].default is inspect.Parameter.empty}
        for arg, text in r.ranges.items():
            low, high, low_open, high_open = _interval(text)
            default = params[arg].default
            integer = default is None or (isinstance(default, int) and not isinstance(default, bool))
            kind = int if integer else float
            probes = [kind(low - 1)] if math.isfinite(low) else []
            probes += [kind(-1)] if math.isfinite(low) and low - 1 > -1 else []
            probes += [kind(low)] if low_open and math.isfinite(low) else []
            probes += [kind(high)] if high_open and math.isfinite(high) else []
            probes += [kind(high + 1)] if math.isfinite(high) else []
            probes += [] if integer else [NAN]
            for value in probes:
                rows.append((f"optzoo.{r.name}", {**required, arg: value},
                             f"{r.name}: {arg} must be in {text}, got {value!r}"))
    return rows


def _param(i, row):
    expr, kwargs, message = row
    return pytest.param(expr, kwargs, message, id=f"{expr}-{list(kwargs)[-1]}-{i}")


@pytest.mark.parametrize("expr,kwargs,message",
                         [_param(i, r) for i, r in enumerate(ROWS + registry_rows())])
def test_invalid_value_message(expr, kwargs, message):
    with pytest.raises(ValueError) as info:
        _build(expr, kwargs)
    assert str(info.value) == message


def test_table_covers_every_constructor():
    """Every transformation in the zoo table has at least one validation row."""
    from tests.zoo import ZOO, public_name

    covered = {expr.split(".", 1)[1] for expr, *_ in ROWS + registry_rows()}
    # validated in tests/test_nonfinite.py; cautious(tx, direction) has no number
    no_numeric_args = {"skip_nonfinite", "cautious"}
    missing = sorted({public_name(k).split(".")[-1] for k in ZOO} - covered - no_numeric_args)
    assert not missing, missing


def test_keras_adafactor_takes_a_clipping_threshold_below_one():
    keras.Adafactor(clip_threshold=0.8)  # the numbers: tests/parity/test_keras_optimizers.py


@pytest.mark.parametrize("module,name", [
    *((pytorch, n) for n in pytorch.__all__
      if n[0].isupper() and inspect.isfunction(getattr(pytorch, n))),
    (keras, "Adam"), (optzoo, "adam")])
def test_params_passed_first_say_what_to_do(module, name):
    """torch's ``Adam(model.parameters(), lr=...)`` habit: the message says where
    the params go instead of Python's 'multiple values for argument'."""
    import jax.numpy as jnp

    factory = getattr(module, name)
    lr = next(iter(inspect.signature(factory).parameters))
    if lr not in ("lr", "learning_rate"):  # ClipGradNorm, ClipGradValue
        return
    params = {"w": jnp.ones((2, 3))}
    public = f"{module.__name__}.{name}"
    expected = (f"{name}: the first argument is {lr}, got a dict (params?); optax optimizers "
                f"take the params at init, not here: tx = {public}({lr}=...); "
                "state = tx.init(params)")
    for call in (lambda: factory(params, **{lr: 0.1}), lambda: factory(params)):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == expected
    with pytest.raises(TypeError, match=rf"got an array of shape \(2, 3\) \(params\?\)"):
        factory(params["w"])


def test_adamw_docstring_names_its_default_weight_decay():
    """optzoo.adamw keeps PyTorch's 1e-2, which is not optax.adamw's 1e-4."""
    assert inspect.signature(optzoo.adamw).parameters["weight_decay"].default == 1e-2
    doc = " ".join(optzoo.adamw.__doc__.split())
    assert "``weight_decay = 1e-2`` is PyTorch's" in doc
    assert "``optax.adamw`` defaults to ``1e-4``" in doc
